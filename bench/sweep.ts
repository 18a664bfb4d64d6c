/**
 * Sweep bench: one nightly sweep with 1,000,000 keys in LiteLLM, 50,000 of them expired keys of
 * ours (one lab each in the ledger), LiteLLM answering /key/list at its real cost. The stand-ins run
 * in a child process, so the peak RSS printed is the sweep's own. Prints figures (LiteLLM, DynamoDB,
 * KMS and Secrets Manager calls among them) and goals; asserts nothing.
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
const keysLeft = await standIns.keysLeft();
standIns.stop();

const calls = counts.calls;
const total = Object.values(calls).reduce((a, b) => a + b, 0);
const deleteCalls = calls['POST /key/delete'] ?? 0;
const reads = calls['POST /v2/key/info'] ?? 0;
const listPages = calls['GET /key/list'] ?? 0;
// Each lab holds one expired key: batches of up to 100 labs, each one bulk read, one /key/delete, one read back.
const batches = Math.ceil(EXPIRED / 100);
const budget = Math.floor(1.1 * 3 * batches);
const rssMb = process.resourceUsage().maxRSS / 1024;
const reconciliation = report.reconciliation as Record<string, unknown>;
const ledgerOps = Object.entries(counts.ledgerByOperation)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([operation, count]) => `${operation} ${count.toLocaleString('en')}`)
  .join(', ');
const perKey = (n: number) => (EXPIRED > 0 ? n / EXPIRED : 0).toFixed(2);
const complete = report.deleted === report.expired && report.expired === EXPIRED;
/** Why a run left expired keys behind, from its own report. */
const unfinished =
  `${Number(report.pending).toLocaleString('en')} pending (not tried: out of time, or the lab's lease not held), ` +
  `${Number(report.failed).toLocaleString('en')} failed, ${Number(report.kept_extended).toLocaleString('en')} kept as extended, ` +
  `stopped_early ${String(report.stopped_early)}, after ${(wallMs / 1000).toFixed(0)} s`;

console.log(`# sweep bench on ${standIns.database} (Node ${process.version}, ${new Date().toISOString()})

${KEYS.toLocaleString('en')} keys in LiteLLM, ${EXPIRED.toLocaleString('en')} of them expired keys of ours (one lab each in the ledger); /key/list at LiteLLM's real cost (about 1 s a page at offset 380,000), other calls ${process.env.BENCH_LATENCY_MS ?? 5} ms; stand-in database: ${standIns.database}.
The sweep takes the labs due from the ledger's sweep index, ${batches.toLocaleString('en')} batches of up to 100: each lab leased, one bulk read, the deletions announced, one /key/delete, one bulk read back.

| figure | value | goal |
| --- | --- | --- |
| wall time | ${(wallMs / 1000).toFixed(1)} s | < 5 min |
| LiteLLM calls | ${total.toLocaleString('en')}: ${reads} bulk reads (/v2/key/info), ${deleteCalls} /key/delete, ${listPages} list pages and ${total - deleteCalls - reads - listPages} other calls | <= 1.1 x 3 x ${batches} batches = ${budget} |
| peak RSS of the sweep's process | ${rssMb.toFixed(0)} MB (${rssBeforeMb.toFixed(0)} MB before the sweep, modules loaded) | < 256 MB |
| keys deleted | ${report.deleted} of ${report.expired}; ${keysLeft.toLocaleString('en')} keys left in LiteLLM | all expired keys of ours |
| DynamoDB requests | ${counts.ledgerCalls.toLocaleString('en')} (${ledgerOps}): ${perKey(counts.ledgerCalls)} per key swept | |
| KMS calls | ${counts.kmsCalls} | 0: the sweep never opens a value |
| Secrets Manager calls | ${counts.secretsCalls} (the master key, read again each SECRETS_CACHE_MS) | |
| reconciliation | ${JSON.stringify(reconciliation)} | |
| log lines written | ${logLines()} | |

Report: ${JSON.stringify(report)}`);
printSummary({
  bench: `sweep on ${standIns.database}`,
  latency: `/key/list at LiteLLM's real cost; ${process.env.BENCH_LATENCY_MS ?? 5} ms otherwise`,
  goals: [
    {
      goal: `${KEYS.toLocaleString('en')} keys, ${EXPIRED.toLocaleString('en')} ours expired: swept in < 5 min`,
      measured: complete
        ? `${(wallMs / 1000).toFixed(1)} s`
        : `${(wallMs / 1000).toFixed(1)} s, but ${Number(report.pending).toLocaleString('en')} keys left pending`,
      met: complete && wallMs < 300_000,
      reason: complete
        ? `the sweep makes ${perKey(counts.ledgerCalls)} DynamoDB requests per key (a lease, the announcement, the release), ${counts.ledgerCalls.toLocaleString('en')} in all, which the ledger's emulator (dynalite, one thread) served at ${(counts.ledgerCalls / (wallMs / 1000)).toFixed(0)} a second here; a new on-demand DynamoDB table takes up to 4,000 writes a second (DynamoDB Developer Guide, on-demand capacity mode)`
        : `the run stopped before every expired key was deleted: ${unfinished}`,
    },
    {
      goal: `LiteLLM calls <= 1.1 x 3 x ${batches} batches of 100 labs = ${budget}`,
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
      met: complete,
      reason: unfinished,
    },
    {
      goal: '0 KMS calls (the sweep never opens a value)',
      measured: `${counts.kmsCalls} calls`,
      met: counts.kmsCalls === 0,
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
