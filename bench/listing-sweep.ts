/**
 * For comparison: the sweep as this service did it before the lab ledger, replayed against the
 * same stand-in profile. It read LiteLLM's whole key table, page by page (expired keys first, with
 * the proxy's filter, then the live ones for warnings and orphan checks), four pages at a time,
 * and deleted the expired keys carrying our marker in batches of 100.
 *
 * BENCH_KEYS keys (default 100,000), BENCH_EXPIRED of them expired keys of ours (default 5%).
 */
import '../scripts/check-node.mjs';
import { performance } from 'node:perf_hooks';
import { eachLimited } from '../lib/concurrency.ts';
import { readConfig } from '../lib/config.ts';
import { isExpired, ownerOf } from '../lib/key-identity.ts';
import { LiteLlmClient } from '../lib/litellm/client.ts';
import { MASTER_KEY } from '../test/support/harness.ts';
import { printSummary } from './goals.ts';
import { startStandIns } from './stand-ins-process.ts';

process.env.BENCH_KEYS ??= '100000';
const KEYS = Number(process.env.BENCH_KEYS);
process.env.BENCH_EXPIRED ??= String(KEYS / 20);
const EXPIRED = Number(process.env.BENCH_EXPIRED);
const standIns = await startStandIns('./sweep-stand-ins.ts');
const config = readConfig({
  ...standIns.env,
  LITELLM_MASTER_KEY_SECRET_ID: 'm',
  LITELLM_TIMEOUT_MS: '60000',
});
const litellm = new LiteLlmClient(config.litellm, MASTER_KEY);

async function scan(filter: 'expired' | 'active', onKeys: (keys: readonly { token?: string }[]) => void) {
  const first = await litellm.listKeys({ page: 1, sort_by: 'token', sort_order: 'asc', expires: filter });
  onKeys(first.keys);
  const rest = Array.from({ length: Math.max(0, first.total_pages - 1) }, (_, i) => i + 2);
  await eachLimited(rest, 4, async (page) => {
    onKeys((await litellm.listKeys({ page, sort_by: 'token', sort_order: 'asc', expires: filter })).keys);
  });
}

const started = performance.now();
const now = new Date();
const expired: string[] = [];
await scan('expired', (keys) => {
  for (const key of keys as Parameters<typeof ownerOf>[0][]) {
    if (key.token && ownerOf(key) && isExpired(key, now)) expired.push(key.token);
  }
});
const batches = Array.from({ length: Math.ceil(expired.length / 100) }, (_, i) =>
  expired.slice(i * 100, i * 100 + 100),
);
await eachLimited(batches, 4, (batch) => litellm.deleteKeys(batch));
await scan('active', () => undefined);
const wallMs = performance.now() - started;
const counts = await standIns.counts();
standIns.stop();
const total = Object.values(counts.calls).reduce((a, b) => a + b, 0);
const listSeconds = (counts.busyMs['GET /key/list'] ?? 0) / 1000;

console.log(`# the listing sweep before the ledger, replayed (Node ${process.version}, ${new Date().toISOString()})

${KEYS.toLocaleString('en')} keys in LiteLLM, ${EXPIRED.toLocaleString('en')} of them expired keys of ours; /key/list at LiteLLM's real cost; stand-in database: ${standIns.database}.

| figure | value |
| --- | --- |
| wall time | ${(wallMs / 1000).toFixed(1)} s |
| LiteLLM calls | ${total.toLocaleString('en')} (${counts.calls['GET /key/list'] ?? 0} list pages, ${counts.calls['POST /key/delete'] ?? 0} delete batches) |
| wall time during which LiteLLM was answering /key/list | ${listSeconds.toFixed(1)} s |
| keys deleted | ${expired.length.toLocaleString('en')} |

For the same keys, this service's sweep works from its ledger instead: 3 LiteLLM calls per batch of up to 100
labs, ${(3 * Math.ceil(EXPIRED / 100)).toLocaleString('en')} calls here (computed; the sweep bench measures it), and no /key/list beyond the reconciliation's budget.
`);
printSummary({
  bench: `listing sweep (before the ledger) on ${standIns.database}`,
  latency: "/key/list at LiteLLM's real cost",
  goals: [],
  comparisons: [
    {
      what: `the listing sweep on ${KEYS.toLocaleString('en')} keys, ${EXPIRED.toLocaleString('en')} ours expired`,
      ours: `(replayed) ${total.toLocaleString('en')} LiteLLM calls, ${(wallMs / 1000).toFixed(0)} s, ${listSeconds.toFixed(0)} s of it LiteLLM answering /key/list`,
      role: 'no sweep',
    },
  ],
});
process.exit(0);
