/**
 * Provision bench: LiteLLM and Secrets Manager calls per first provision and per replay, and wall
 * time of 200 sequential provisions against the stand-ins with 5 ms of LiteLLM latency.
 * Prints figures; asserts nothing. Stand-ins run in this process, over real loopback HTTP.
 */
import '../scripts/check-node.mjs';

import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { lambdaContext, postKeysEvent } from '../test/support/fixtures/events.ts';
import { startHarness } from '../test/support/harness.ts';
import { printSummary } from './goals.ts';

const SEQUENTIAL = Number(process.env.BENCH_PROVISIONS ?? 200);
const LATENCY_MS = 5;

const h = await startHarness({ LITELLM_TIMEOUT_MS: '30000', LITELLM_RETRIES: '3' });
const { handler } = (await import('../functions/provision.ts')) as {
  handler: (event: unknown, context: Context) => Promise<{ statusCode: number }>;
};

async function provision(guid: string): Promise<number> {
  const result = await handler(postKeysEvent({ guid }), lambdaContext());
  if (result.statusCode !== 200 && result.statusCode !== 201)
    throw new Error(`${guid}: ${result.statusCode}`);
  return result.statusCode;
}

function counted<T>(run: () => Promise<T>) {
  return async () => {
    h.litellm.resetCounters();
    h.secrets.resetCounters();
    await run();
    return { litellm: h.litellm.callCount(), secretsManager: h.secrets.callCount() };
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const cold = await counted(() => provision('bench-cold'))();
const first = await counted(() => provision('bench-first'))();
const replay = await counted(() => provision('bench-first'))();

h.litellm.faults.set({ latencyMs: LATENCY_MS });
const timings = { first: [] as number[], replay: [] as number[] };
for (const phase of ['first', 'replay'] as const) {
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    await provision(`bench-seq-${i}`);
    timings[phase].push(performance.now() - started);
  }
}
const keys = await h.litellm.table.count();
await h.close();

const row = (name: string, values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `| ${name} | ${SEQUENTIAL} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 95).toFixed(1)} | ${sorted.at(-1)?.toFixed(1)} |`;
};

console.log(`# provision bench (Node ${process.version}, ${new Date().toISOString()})

| call pattern | LiteLLM calls | Secrets Manager calls | goal |
| --- | --- | --- | --- |
| first provision, cold container (includes the master-key fetch) | ${cold.litellm} | ${cold.secretsManager} | |
| first provision, warm container | ${first.litellm} | ${first.secretsManager} | <= 3 + 2 |
| replay of a provisioned lab | ${replay.litellm} | ${replay.secretsManager} | <= 2 + 1 |

Sequential provisions, LiteLLM stand-in latency ${LATENCY_MS} ms per request (ms):

| phase | n | p50 | p95 | max |
| --- | --- | --- | --- | --- |
${row('first provision', timings.first)}
${row('replay', timings.replay)}

Keys in the stand-in afterwards: ${keys} (expected ${SEQUENTIAL + 2}).
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);

const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
printSummary({
  bench: 'provision',
  latency: `${LATENCY_MS} ms`,
  goals: [
    {
      goal: 'first provision (warm): <= 3 LiteLLM + 2 Secrets Manager calls',
      measured: `${first.litellm} + ${first.secretsManager}`,
      met: first.litellm <= 3 && first.secretsManager <= 2,
      reason:
        'the third Secrets Manager call looks for a users list from before the ledger, which a lab the ledger has never seen may have; it can go once the sweep has removed the last such list',
    },
    {
      goal: 'replay: <= 2 LiteLLM + 1 Secrets Manager calls, whatever LiteLLM holds',
      measured: `${replay.litellm} + ${replay.secretsManager}`,
      met: replay.litellm <= 2 && replay.secretsManager <= 1,
    },
    {
      goal: `first provision p50 < 10 x the stand-in latency (${10 * LATENCY_MS} ms)`,
      measured: `${p50(timings.first).toFixed(1)} ms`,
      met: p50(timings.first) < 10 * LATENCY_MS,
      reason:
        'the ledger adds three conditional writes (lease, record, release) to each first provision; dynalite, the DynamoDB emulator, answers each in several milliseconds on this 2-core machine, where DynamoDB itself answers in single-digit milliseconds',
    },
    { goal: 'one key per lab', measured: `${keys} keys`, met: keys === SEQUENTIAL + 2 },
  ],
  comparisons: [
    {
      what: 'LiteLLM calls to find whether a lab has a key',
      ours: '1 (/key/list by exact alias), whatever LiteLLM holds',
      role: '1 + N/100 pages + N /key/info calls for N keys in LiteLLM (see destroy)',
    },
  ],
});
