/**
 * The sweep bench's other process: the LiteLLM, Secrets Manager and EventBridge stand-ins with a
 * 100k-key population, so that the bench process's peak RSS is the sweep's own. Talks over IPC:
 * sends its URLs when ready, answers `calls` with LiteLLM's call counts and time spent per
 * endpoint, exits on `stop`.
 */
import { createHash } from 'node:crypto';
import { startHarness } from '../test/support/harness.ts';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 2);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const h = await startHarness();
const now = Date.now();
// A quarter expired keys of ours; the rest live keys of ours and other systems' keys.
await h.litellm.table.insertMany(
  Array.from({ length: KEYS }, (_, i) => {
    const kind = i % 4 === 0 ? 'expired' : i % 4 === 1 ? 'live' : 'foreign';
    return {
      token: sha256(`bench-${i}`),
      key_name: 'sk-...xxxx',
      key_alias: kind === 'foreign' ? `team-key-${i}` : `virtkey-lab${i}`,
      expires: new Date(now + (kind === 'expired' ? -1 : 1) * (86_400_000 + i)),
      models: [],
      metadata: kind === 'foreign' ? {} : { managed_by: 'litellm-virtual-keys', guid: `lab${i}` },
      user_id: null,
      max_budget: null,
      created_by: 'default_user_id',
    };
  }),
);
h.litellm.faults.set({ latencyMs: LATENCY_MS });
h.litellm.resetCounters();

process.on('message', async (message) => {
  if (message === 'calls') {
    process.send?.({
      calls: Object.fromEntries(h.litellm.calls),
      busyMs: Object.fromEntries(h.litellm.busyMs),
      left: await h.litellm.table.count(),
    });
  } else if (message === 'stop') {
    await h.close();
    process.exit(0);
  }
});
process.send?.({
  env: {
    LITELLM_URL: process.env.LITELLM_URL,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
    AWS_ENDPOINT_URL_EVENTBRIDGE: process.env.AWS_ENDPOINT_URL_EVENTBRIDGE,
  },
  database: h.litellm.table.db.kind,
});
