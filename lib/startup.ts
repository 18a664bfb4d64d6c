import { ConfigError } from './errors.ts';
import { log } from './log.ts';
import { publishConfigError } from './metrics.ts';

/**
 * A function's configuration read at cold start, as `const config = configAtStart('provision',
 * getConfig)`. If it cannot be read, the `ConfigErrors` metric and one log line naming the fault
 * are written before the error is rethrown, so Lambda still reports the init error; both writes
 * are synchronous, so neither is lost when the process ends.
 */
export function configAtStart<C>(functionName: string, read: () => C): C {
  try {
    return read();
  } catch (error) {
    publishConfigError(functionName);
    // A ConfigError names the variable at fault and never its value; anything else is a bug, logged whole.
    if (error instanceof ConfigError)
      log.error('configuration unusable; the function cannot start', {
        function: functionName,
        detail: error.message,
      });
    else
      log.error('configuration unreadable; the function cannot start', {
        function: functionName,
        err: error,
      });
    throw error;
  }
}
