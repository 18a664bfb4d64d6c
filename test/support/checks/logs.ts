import { recordOutput } from './run-record.ts';

/**
 * Captures every line the service logs (its logger writes JSON strings to stdout), so tests can
 * assert on them; other writes, such as the test runner's own, pass through untouched.
 */
export const logLines: string[] = [];
/** Embedded Metric Format lines (Powertools Metrics), kept apart from the log lines. */
export const metricLines: string[] = [];

const original = process.stdout.write.bind(process.stdout);
const verbose = process.env.TEST_LOGS === '1';

process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
  if (typeof chunk === 'string' && chunk.startsWith('{"level":')) {
    logLines.push(...chunk.split('\n').filter(Boolean));
    if (!verbose) {
      recordOutput(chunk); // swallowed here, so the whole-run leak check still sees it
      return true;
    }
  }
  if (typeof chunk === 'string' && chunk.startsWith('{"_aws":')) {
    metricLines.push(...chunk.split('\n').filter(Boolean));
    if (!verbose) {
      recordOutput(chunk); // swallowed here, so the whole-run leak check still sees it
      return true;
    }
  }
  return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

export function logEntries(): Record<string, unknown>[] {
  return logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every captured line that contains any of `secrets`. */
export function linesLeaking(secrets: Iterable<string>): string[] {
  const values = [...secrets].filter((s) => s.length > 0);
  return logLines.filter((line) => values.some((secret) => line.includes(secret)));
}
