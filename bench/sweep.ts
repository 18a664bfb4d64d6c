/**
 * Sweep bench: one nightly sweep with 1,000,000 keys in LiteLLM, 50,000 of them expired keys of
 * ours, LiteLLM answering /key/list at its real cost. The stand-ins run in a child process, so the
 * peak RSS printed is the sweep's own. Prints figures; asserts nothing.
 *
 * BENCH_KEYS, BENCH_EXPIRED and BENCH_LATENCY_MS change the population and the latency of other
 * calls; DATABASE_URL puts the stand-in's tables on a Postgres server instead of PGlite.
 */
import '../scripts/check-node.mjs';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { lambdaContext, scheduledSweepEvent } from '../test/support/fixtures/events.ts';
import { MASTER_KEY_SECRET_ID } from '../test/support/harness.ts';
import { printSummary } from './goals.ts';
import { quietLogs, startStandIns } from './stand-ins-process.ts';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const EXPIRED = Number(process.env.BENCH_EXPIRED ?? 50_000);
const standIns = await startStandIns('./sweep-stand-ins.ts');
Object.assign(process.env, standIns.env, {
  LITELLM_MASTER_KEY_SECRET_ID: MASTER_KEY_SECRET_ID,
  API_TOKENS_SECRET_ID: 'litellm-virtual-keys/api-tokens',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
  AWS_SECRET_ACCESS_KEY: 'stand-in-secret',
});
const logLines = quietLogs();

type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;
const { handler } = (await import('../functions/sweep.ts')) as { handler: Handler };

const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
const started = performance.now();
const report = await handler(scheduledSweepEvent(), lambdaContext(900_000));
const wallMs = performance.now() - started;
const counts = await standIns.counts();
standIns.stop();

const calls = counts.calls;
const total = Object.values(calls).reduce((a, b) => a + b, 0);
const deleteBatches = calls['POST /key/delete'] ?? 0;
const reads = calls['POST /v2/key/info'] ?? 0;
const listPages = calls['GET /key/list'] ?? 0;
const ideal = Math.ceil(EXPIRED / 100);
const budget = Math.floor(1.1 * (ideal + reads));
const rssMb = process.resourceUsage().maxRSS / 1024;
const reconciliation = report.reconciliation as Record<string, unknown>;

console.log(`# sweep bench on ${standIns.database} (Node ${process.version}, ${new Date().toISOString()})

${KEYS.toLocaleString('en')} keys in LiteLLM, ${EXPIRED.toLocaleString('en')} of them expired keys of ours (in the ledger); /key/list at LiteLLM's real cost (about 1 s a page at offset 380,000), other calls ${process.env.BENCH_LATENCY_MS ?? 5} ms; stand-in database: ${standIns.database}.

| figure | value | goal |
| --- | --- | --- |
| wall time | ${(wallMs / 1000).toFixed(1)} s | < 5 min |
| LiteLLM calls | ${total.toLocaleString('en')}: ${deleteBatches} delete batches, ${reads} verification batches (each re-reads one batch before its deletion and checks the one before gone), ${listPages} list pages and ${total - deleteBatches - reads - listPages} other calls of the reconciliation | <= 1.1 x (${ideal} + ${reads}) = ${budget} |
| peak RSS of the sweep's process | ${rssMb.toFixed(0)} MB (${rssBeforeMb.toFixed(0)} MB before the sweep, modules loaded) | < 256 MB |
| keys deleted | ${report.deleted} of ${report.expired}; ${counts.left.toLocaleString('en')} keys left in LiteLLM | all expired keys of ours |
| ledger (DynamoDB) calls | ${counts.ledgerCalls.toLocaleString('en')} | |
| Secrets Manager calls | ${counts.secretsCalls.toLocaleString('en')} | |
| reconciliation | ${JSON.stringify(reconciliation)} | |
| log lines written | ${logLines()} | |

Report: ${JSON.stringify(report)}`);
printSummary({
  bench: `sweep on ${standIns.database}`,
  latency: `/key/list at LiteLLM's real cost; ${process.env.BENCH_LATENCY_MS ?? 5} ms otherwise`,
  goals: [
    {
      goal: `${KEYS.toLocaleString('en')} keys, ${EXPIRED.toLocaleString('en')} ours expired: swept in < 5 min`,
      measured: `${(wallMs / 1000).toFixed(1)} s`,
      met: wallMs < 300_000,
      reason:
        'the ledger emulator (dynalite, one thread) serves about 500 writes a second; the sweep makes two per key',
    },
    {
      goal: `LiteLLM calls <= 1.1 x (${ideal} delete batches + ${reads} verification batches) = ${budget}`,
      measured: total.toLocaleString('en'),
      met: total <= budget,
    },
    {
      goal: 'peak RSS of the sweep < 256 MB',
      measured: `${rssMb.toFixed(0)} MB`,
      met: rssMb < 256,
      reason: `${rssBeforeMb.toFixed(0)} MB of it is the process before the sweep starts (tsx compiling TypeScript in-process)`,
    },
    {
      goal: 'every expired key of ours deleted',
      measured: `${Number(report.deleted).toLocaleString('en')} of ${Number(report.expired).toLocaleString('en')}`,
      met: report.deleted === report.expired && report.expired === EXPIRED,
    },
  ],
  comparisons: [
    {
      what: `nightly sweep, ${EXPIRED.toLocaleString('en')} expired keys of ours among ${KEYS.toLocaleString('en')}`,
      ours: `${total.toLocaleString('en')} LiteLLM calls, ${(wallMs / 1000).toFixed(0)} s, no listing of LiteLLM's table beyond the reconciliation's budget`,
      role: 'no sweep: they stay in LiteLLM until someone deletes them',
    },
  ],
});
process.exit(0);
