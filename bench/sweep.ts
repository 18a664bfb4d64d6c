/**
 * Sweep bench: one scheduled sweep over 100,000 keys (25% expired keys of ours) with 2 ms of
 * stand-in latency per request. The stand-ins run in a child process, so the peak RSS printed is
 * the sweep's own. Prints figures; asserts nothing.
 *
 * BENCH_KEYS and BENCH_LATENCY_MS change the population and the latency; DATABASE_URL puts the
 * stand-in's tables on a Postgres server instead of PGlite.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { lambdaContext, scheduledSweepEvent } from '../test/support/events.ts';
import { MASTER_KEY_SECRET_ID } from '../test/support/harness.ts';
import { printSummary } from './goals.ts';

interface Ready {
  env: Record<string, string>;
  database: string;
}
const child = fork(new URL('./sweep-stand-ins.ts', import.meta.url), {
  execArgv: ['--import', 'tsx'],
  stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
});
const ask = <T>(message: string) =>
  new Promise<T>((resolve) => {
    child.once('message', (answer) => resolve(answer as T));
    if (message) child.send(message);
  });
const ready = await ask<Ready>('');

Object.assign(process.env, ready.env, {
  LITELLM_MASTER_KEY_SECRET_ID: MASTER_KEY_SECRET_ID,
  API_TOKENS_SECRET_ID: 'litellm-virtual-keys/api-tokens',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
  AWS_SECRET_ACCESS_KEY: 'stand-in-secret',
});
// Logs go to a counter, not the terminal: one line per run is what Lambda would write.
let logLines = 0;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
  if (typeof chunk === 'string' && chunk.startsWith('{')) {
    logLines++;
    return true;
  }
  return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;
const { handler } = (await import('../functions/sweep.ts')) as { handler: Handler };

const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
const started = performance.now();
const report = await handler(scheduledSweepEvent(), lambdaContext(900_000));
const wallMs = performance.now() - started;
const { calls, busyMs, left } = await ask<{
  calls: Record<string, number>;
  busyMs: Record<string, number>;
  left: number;
}>('calls');
child.send('stop');

const listPages = calls['GET /key/list'] ?? 0;
const deleteBatches = calls['POST /key/delete'] ?? 0;
const total = Object.values(calls).reduce((a, b) => a + b, 0);
const keys = Number(process.env.BENCH_KEYS ?? 100_000);
const idealPages = Math.ceil((keys * 0.25) / 100) + Math.ceil((keys * 0.75) / 100);
const idealBatches = Math.ceil((keys * 0.25) / 100);
const rssMb = process.resourceUsage().maxRSS / 1024;
const listSeconds = (busyMs['GET /key/list'] ?? 0) / 1000;

console.log(`# sweep bench on ${ready.database} (Node ${process.version}, ${new Date().toISOString()})

${keys.toLocaleString('en')} keys (25% expired keys of ours), stand-in latency ${process.env.BENCH_LATENCY_MS ?? 2} ms per request, stand-in database: ${ready.database}.

| figure | value | goal |
| --- | --- | --- |
| wall time | ${(wallMs / 1000).toFixed(1)} s | < 60 s |
| LiteLLM calls | ${total.toLocaleString('en')} (${listPages} list pages, ${deleteBatches} delete batches) | <= 1.05 x (${idealPages} + ${idealBatches}) = ${Math.floor(1.05 * (idealPages + idealBatches))} |
| peak RSS of the sweep's process | ${rssMb.toFixed(0)} MB (${rssBeforeMb.toFixed(0)} MB before the sweep, modules loaded) | < 200 MB |
| keys deleted | ${report.deleted} of ${report.expired}; ${left.toLocaleString('en')} keys left | all expired keys of ours |
| wall time during which the stand-in was answering /key/list | ${listSeconds.toFixed(1)} s |  |
| log lines written | ${logLines} | |

Report: ${JSON.stringify(report)}`);
const budget = Math.floor(1.05 * (idealPages + idealBatches));
printSummary({
  bench: `sweep on ${ready.database}`,
  latency: `${process.env.BENCH_LATENCY_MS ?? 2} ms`,
  goals: [
    {
      goal: `${keys.toLocaleString('en')} keys swept in < 60 s`,
      measured: `${(wallMs / 1000).toFixed(1)} s`,
      met: wallMs < 60_000,
      reason: `for ${listSeconds.toFixed(1)} s of it the stand-in was answering /key/list pages, on ${ready.database}, which serves LiteLLM's deep OFFSET pages slowly`,
    },
    {
      goal: `LiteLLM calls <= 1.05 x the ideal (${budget.toLocaleString('en')})`,
      measured: total.toLocaleString('en'),
      met: total <= budget,
    },
    {
      goal: 'peak RSS of the sweep < 200 MB',
      measured: `${rssMb.toFixed(0)} MB`,
      met: rssMb < 200,
      reason: `${rssBeforeMb.toFixed(0)} MB of it is the process before the sweep starts (Node, tsx compiling TypeScript in-process, the SDK; Lambda loads a 1.2 MB bundle instead); the sweep itself added ${(rssMb - rssBeforeMb).toFixed(0)} MB`,
    },
    {
      goal: `what the sweep adds to RSS for ${keys.toLocaleString('en')} keys < 64 MB`,
      measured: `${(rssMb - rssBeforeMb).toFixed(0)} MB`,
      met: rssMb - rssBeforeMb < 64,
    },
    {
      goal: 'every expired key of ours deleted',
      measured: `${Number(report.deleted).toLocaleString('en')} of ${Number(report.expired).toLocaleString('en')}`,
      met: report.deleted === report.expired,
    },
  ],
  comparisons: [
    {
      what: `expired keys among ${keys.toLocaleString('en')}`,
      ours: `all ${Number(report.deleted).toLocaleString('en')} deleted in ${(wallMs / 1000).toFixed(1)} s by the nightly run`,
      role: 'no sweep: they stay in LiteLLM until someone deletes them',
    },
  ],
});
// The master-key cache would refresh from a Secrets Manager stand-in that is gone now.
process.exit(0);
