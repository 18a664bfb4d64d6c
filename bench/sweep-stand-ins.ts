/**
 * The sweep bench's other process: the stand-ins (LiteLLM, Secrets Manager, EventBridge, KMS and
 * the ledger's DynamoDB) and their population, so that the bench process's peak RSS is the sweep's
 * own. LiteLLM answers /key/list at its real cost (a base plus a term growing with OFFSET).
 *
 * BENCH_KEYS keys in LiteLLM, BENCH_EXPIRED of them expired keys of ours (each the one key of a lab
 * in the ledger), the rest other systems' live keys. BENCH_ALIAS_INDEX=1 adds an index on
 * `key_alias` as an operator could (LiteLLM's schema has none). Talks over IPC: sends its URLs when ready,
 * answers `calls` with LiteLLM's call counts and busy time per endpoint and the AWS stand-ins'
 * counts (from after the population was written), `left` with the keys left in LiteLLM (a count
 * of the whole table, never run between a bench's timed calls), exits on `stop`.
 */
import { createHash } from 'node:crypto';
import { seedRecordedKeys } from '../test/support/fixtures/recorded-keys.ts';
import { startHarness } from '../test/support/harness.ts';
import { realListCost } from '../test/support/stand-ins/litellm/server.ts';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const EXPIRED = Number(process.env.BENCH_EXPIRED ?? 50_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 5);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// The bench process gone (it failed, or was stopped) without a `stop`: do not outlive it.
let onDisconnect: () => void = () => process.exit(0);
process.on('disconnect', () => onDisconnect());
const h = await startHarness();
const now = Date.now();
const started = Date.now();
const CHUNK = 50_000;
for (let start = 0; start < KEYS - EXPIRED; start += CHUNK) {
  const count = Math.min(CHUNK, KEYS - EXPIRED - start);
  await h.litellm.table.insertMany(
    Array.from({ length: count }, (_, i) => ({
      token: sha256(`other-${start + i}`),
      key_name: 'sk-...xxxx',
      key_alias: `team-key-${start + i}`,
      expires: new Date(now + 30 * 86_400_000 + i),
      models: [],
      metadata: {},
      user_id: null,
      max_budget: null,
      created_by: 'default_user_id',
    })),
  );
}
for (let start = 0; start < EXPIRED; start += 10_000) {
  await seedRecordedKeys(
    h,
    Array.from({ length: Math.min(10_000, EXPIRED - start) }, (_, i) => ({
      guid: `lab${start + i}`,
      expires: new Date(now - 86_400_000 - i),
    })),
  );
}
if (process.env.BENCH_ALIAS_INDEX === '1') {
  // Outside LiteLLM's schema: what an operator could add to a live proxy's table without locking it.
  await h.litellm.table.db.query(
    'CREATE INDEX CONCURRENTLY "operator_key_alias_idx" ON "LiteLLM_VerificationToken" (key_alias)',
  );
}
process.stderr.write(
  `stand-ins ready with ${KEYS.toLocaleString('en')} keys in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
);
h.litellm.faults.set({ latencyMs: LATENCY_MS });
h.litellm.listCost = realListCost();
h.litellm.resetCounters();
// The population's own writes are not the sweep's.
h.ledger.resetCounters();
h.secrets.resetCounters();
h.kms.calls.clear();

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= h.close().then(() => process.exit(0));
  return stopping;
};
process.on('message', async (message) => {
  if (message === 'calls') {
    process.send?.({
      calls: Object.fromEntries(h.litellm.calls),
      busyMs: Object.fromEntries(h.litellm.busyMs),
      ledgerCalls: h.ledger.callCount(),
      ledgerByOperation: Object.fromEntries(h.ledger.calls),
      secretsCalls: h.secrets.callCount(),
      kmsCalls: h.kms.callCount(),
    });
  } else if (message === 'left') {
    process.send?.(await h.litellm.table.count());
  } else if (message === 'stop') {
    await stop();
  }
});
onDisconnect = () => void stop();
process.send?.({
  env: {
    LITELLM_URL: process.env.LITELLM_URL,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
    AWS_ENDPOINT_URL_EVENTBRIDGE: process.env.AWS_ENDPOINT_URL_EVENTBRIDGE,
    AWS_ENDPOINT_URL_DYNAMODB: process.env.AWS_ENDPOINT_URL_DYNAMODB,
    AWS_ENDPOINT_URL_KMS: process.env.AWS_ENDPOINT_URL_KMS,
    LABS_TABLE: process.env.LABS_TABLE,
    KEY_VALUES_KMS_KEY_ID: process.env.KEY_VALUES_KMS_KEY_ID,
  },
  database: h.litellm.table.db.kind,
});
