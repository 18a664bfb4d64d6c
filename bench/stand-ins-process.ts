/**
 * Stand-ins in a child process, for benches whose peak RSS must be their own: fork the script,
 * take the environment it reports, ask it for its counters, stop it.
 */
import { fork } from 'node:child_process';

export interface StandInCounts {
  readonly calls: Record<string, number>;
  readonly busyMs: Record<string, number>;
  /** DynamoDB requests, in all and by operation. */
  readonly ledgerCalls: number;
  readonly ledgerByOperation: Record<string, number>;
  readonly secretsCalls: number;
  readonly kmsCalls: number;
}

export async function startStandIns(script: string) {
  const child = fork(new URL(script, import.meta.url), {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ask = <T>(message?: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (answer) => resolve(answer as T));
      if (message) child.send(message);
    });
  const ready = await ask<{ env: Record<string, string>; database: string }>();
  return {
    env: ready.env,
    database: ready.database,
    counts: () => ask<StandInCounts>('calls'),
    /** The keys left in LiteLLM: a count of the whole table, so asked for apart from the counters. */
    keysLeft: () => ask<number>('left'),
    stop: () => child.send('stop'),
  };
}

/** Log lines go to a counter, not the terminal: one line per run is what Lambda would write. */
export function quietLogs(): () => number {
  let lines = 0;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('{')) {
      lines++;
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  return () => lines;
}
