/**
 * Provision bench: what a first provision and a replay cost outside the service (LiteLLM, Secrets
 * Manager, KMS and DynamoDB calls), what one lab's later operations cost (a read with its key, an
 * extend, a destroy) and the size of its ledger item, and the wall time of 200 sequential
 * provisions against the stand-ins with 5 ms of LiteLLM latency, beside what the ledger's own
 * emulator takes per request. Prints figures and goals; asserts nothing. Stand-ins run in this
 * process, over real loopback HTTP (dynalite, the DynamoDB emulator, in a process of its own).
 */
import '../scripts/check-node.mjs';

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { labItemKey } from '../lib/ledger/lab-record.ts';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  postKeysEvent,
  scheduledSweepEvent,
} from '../test/support/fixtures/events.ts';
import { type Handler, importRouteHandlers, setKeyExpiry, startHarness } from '../test/support/harness.ts';
import {
  type AwsUsage,
  dynamoDetail,
  imagesCost,
  indexEntryBytes,
  itemImages,
  kmsCalls,
  kmsDetail,
  ledgerIndexes,
  ledgerItem,
  measured,
  readUnits,
  writeUnits,
} from './aws-usage.ts';
import { printSummary } from './goals.ts';

const SEQUENTIAL = Number(process.env.BENCH_PROVISIONS ?? 200);
const LATENCY_MS = 5;
const LEDGER_SAMPLES = 200;

// A lab's deleted keys are looked for again until RECONCILE_GRACE (1 h) after they were made; the
// labs here live seconds, so that hour is a second here: a destroy after it leaves what a destroy
// of a lab more than an hour old leaves.
const GRACE_MS = 1000;
const h = await startHarness({ LITELLM_TIMEOUT_MS: '30000', LITELLM_RETRIES: '3', RECONCILE_GRACE: '1s' });
const route = await importRouteHandlers();
const sweep = ((await import('../functions/sweep.ts')) as { handler: Handler }).handler;
type Answer = { statusCode: number };

async function call(
  handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>,
  event: unknown,
  what: string,
): Promise<number> {
  const result = (await handler(event, lambdaContext())) as Answer;
  if (result.statusCode !== 200 && result.statusCode !== 201)
    throw new Error(`${what}: ${result.statusCode}`);
  return result.statusCode;
}
const provision = (guid: string) => call(route.provision, postKeysEvent({ guid }), `provision ${guid}`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

// The process's very first call reads the master key; every later one has it cached.
const cold = await measured(h, () => provision('bench-cold'));
const first = await measured(h, () => provision('bench-first'));
const afterProvision = await ledgerItem(h, 'bench-first');
const entries = indexEntryBytes((await h.ledger.lab('bench-first')).lab, ledgerIndexes());
const replay = await measured(h, () => provision('bench-first'));
// The rest of one lab's life, for the cost figures (docs/cost.md).
const read = await measured(h, () => call(route.status, getKeysEvent('bench-first'), 'status'));
const extend = await measured(h, () =>
  call(route.extend, extendKeysEvent('bench-first', { duration: '10d' }), 'extend'),
);
const afterExtend = await ledgerItem(h, 'bench-first');
await sleep(GRACE_MS);
const destroy = await measured(h, () => call(route.destroy, deleteKeysEvent('bench-first'), 'destroy'));
const tombstone = await ledgerItem(h, 'bench-first');

// Write request units, from the lab's item before and after each write and the table's indexes
// (a run of its own: reading the item between writes adds reads the counts above must not have).
const indexes = ledgerIndexes();
const unitsOf = async (guid: string, run: () => Promise<unknown>) =>
  imagesCost(await itemImages(h, guid, run), indexes);
const units = {
  provision: await unitsOf('bench-units', () => provision('bench-units')),
  extend: await unitsOf('bench-units', () =>
    call(route.extend, extendKeysEvent('bench-units', { duration: '10d' }), 'extend'),
  ),
  destroy: await (async () => {
    await sleep(GRACE_MS);
    return unitsOf('bench-units', () => call(route.destroy, deleteKeysEvent('bench-units'), 'destroy'));
  })(),
};
// A lab left to expire instead: the nightly sweep deletes its key.
await provision('bench-expiring');
const expiringKey = String((await h.ledger.lab('bench-expiring')).keys[0]?.key_id);
await sleep(GRACE_MS);
await setKeyExpiry(h, 'bench-expiring', expiringKey, new Date(Date.now() - 60_000));
let sweepImages = 0;
const swept = await measured(h, async () => {
  const images = await itemImages(h, 'bench-expiring', () =>
    sweep(scheduledSweepEvent(), lambdaContext(900_000)),
  );
  sweepImages = images.length;
  return imagesCost(images, indexes);
});
const sweptLab = (await h.ledger.lab('bench-expiring')).lab;
if (sweptLab?.lab_state !== 'expired')
  throw new Error(`the sweep left bench-expiring ${String(sweptLab?.lab_state)}`);
// Without the reads that took the images.
const sweepDynamo = swept.dynamodb - sweepImages;
const sweepOps = {
  ...swept.dynamodbByOperation,
  GetItem: (swept.dynamodbByOperation.GetItem ?? 0) - sweepImages,
};

// What the DynamoDB emulator itself takes per request, with a lab item of the size measured above.
const ledgerClient = new DynamoDBClient({
  endpoint: h.ledger.url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'stand-in-secret' },
});
const ledgerDoc = DynamoDBDocumentClient.from(ledgerClient);
const { lab: sample } = await h.ledger.lab('bench-cold');
const ledgerMs = { get: [] as number[], put: [] as number[] };
for (let i = 0; i < LEDGER_SAMPLES; i++) {
  const item = { ...sample, ...labItemKey(`bench-emulator-${i}`), guid: `bench-emulator-${i}` };
  let started = performance.now();
  await ledgerDoc.send(
    new PutCommand({
      TableName: h.ledger.tableName,
      Item: item,
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  ledgerMs.put.push(performance.now() - started);
  started = performance.now();
  await ledgerDoc.send(
    new GetCommand({
      TableName: h.ledger.tableName,
      Key: labItemKey(`bench-emulator-${i}`),
      ConsistentRead: true,
    }),
  );
  ledgerMs.get.push(performance.now() - started);
}
ledgerClient.destroy();

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
const usageRow = (name: string, u: AwsUsage) =>
  `| ${name} | ${u.litellm} | ${u.secretsManager} | ${kmsDetail(u)} | ${dynamoDetail(u)} |`;
const ledgerWrite = p50(ledgerMs.put);
const ledgerRead = p50(ledgerMs.get);
// A first provision's DynamoDB requests at the emulator's own pace: what it adds on this machine.
const ledgerShare =
  (first.dynamodbByOperation.GetItem ?? 0) * ledgerRead +
  (first.dynamodb - (first.dynamodbByOperation.GetItem ?? 0)) * ledgerWrite;

console.log(`# provision bench (Node ${process.version}, ${new Date().toISOString()})

Calls per operation on a one-key lab (no added latency):

| operation | LiteLLM calls | Secrets Manager calls | KMS calls | DynamoDB requests |
| --- | --- | --- | --- | --- |
${usageRow("first provision, the process's first call (includes the master-key fetch)", cold)}
${usageRow('first provision, master key cached', first)}
${usageRow('replay of a provisioned lab', replay)}
${usageRow('read with its key (GET /keys/{guid}, read-key)', read)}
${usageRow('extend', extend)}
${usageRow('destroy', destroy)}
| the nightly sweep deleting one expired key (the whole run, its reconciliation included) | ${swept.litellm} | ${swept.secretsManager} | ${kmsDetail(swept)} | ${dynamoDetail({ dynamodb: sweepDynamo, dynamodbByOperation: sweepOps })} |

Write request units of those writes (DynamoDB on-demand), from the lab's item before and after each
write and the indexes of resources/labs-table.yml: the table is billed by the larger of the two sizes,
1 unit per KB started; each index entry that appears, changes or goes costs 1, one whose index key
changes 2 (deleted, then written), each under 1 KB here:

| operation | writes | table units | index units | total |
| --- | --- | --- | --- | --- |
${(
  [
    ['first provision', units.provision],
    ['extend', units.extend],
    ['destroy (of a lab older than RECONCILE_GRACE)', units.destroy],
    ['the sweep deleting an expired key', swept.result],
  ] as const
)
  .map(([name, u]) => `| ${name} | ${u.writes} | ${u.table} | ${u.indexes} | ${u.table + u.indexes} |`)
  .join('\n')}

The lab's ledger item, at DynamoDB's billed size (attribute names and values): ${afterProvision.bytes} bytes once
provisioned (${readUnits(afterProvision.bytes)} read unit, ${writeUnits(afterProvision.bytes)} write unit at rest; a write that also carries a lease or an announcement can pass
1 KB, see the table above; the sealed value is ${afterProvision.sealedChars} characters of base64),
${afterExtend.bytes} bytes once extended, ${tombstone.bytes} bytes as a tombstone after the destroy. Its index entries once
provisioned: ${Object.entries(entries)
  .map(([name, bytes]) => `${name} ${bytes} bytes`)
  .join(', ')}.

The DynamoDB emulator itself (dynalite, one thread, sharing this machine), a lab item of that size, median of
${LEDGER_SAMPLES}: ${ledgerWrite.toFixed(1)} ms per conditional PutItem, ${ledgerRead.toFixed(1)} ms per consistent GetItem.

Sequential provisions, LiteLLM stand-in latency ${LATENCY_MS} ms per request (ms):

| phase | n | p50 | p95 | max |
| --- | --- | --- | --- | --- |
${row('first provision', timings.first)}
${row('replay', timings.replay)}

Keys in the stand-in afterwards: ${keys} (expected ${SEQUENTIAL + 1}: the destroyed lab's key is gone).
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);

const firstP50 = p50(timings.first);
printSummary({
  bench: 'provision',
  latency: `${LATENCY_MS} ms`,
  goals: [
    {
      goal: 'first provision (master key cached): <= 3 LiteLLM calls, 0 Secrets Manager calls, exactly 1 KMS call',
      measured: `${first.litellm} LiteLLM, ${first.secretsManager} Secrets Manager, ${kmsDetail(first)}`,
      met: first.litellm <= 3 && first.secretsManager === 0 && kmsCalls(first) === 1,
    },
    {
      goal: 'replay: 0 LiteLLM calls and 1 KMS call, whatever LiteLLM holds',
      measured: `${replay.litellm} LiteLLM, ${kmsDetail(replay)}`,
      met: replay.litellm === 0 && kmsCalls(replay) === 1,
    },
    {
      goal: `first provision p50 < 10 x the stand-in latency (${10 * LATENCY_MS} ms)`,
      measured: `${firstP50.toFixed(1)} ms`,
      met: firstP50 < 10 * LATENCY_MS,
      reason:
        `a first provision makes ${first.dynamodb} DynamoDB requests (read, lease, intent, release); the emulator ` +
        `answers a conditional write in ${ledgerWrite.toFixed(1)} ms and a read in ${ledgerRead.toFixed(1)} ms on this 2-core ` +
        `machine, ${ledgerShare.toFixed(0)} ms in all, where DynamoDB answers in single-digit milliseconds; ` +
        `the rest is ${first.litellm} LiteLLM calls at ${LATENCY_MS} ms, the KMS stand-in and the service itself`,
    },
    { goal: 'one key per lab', measured: `${keys} keys`, met: keys === SEQUENTIAL + 1 },
  ],
  comparisons: [
    {
      what: 'LiteLLM calls to find whether a lab has a key',
      ours: '0: the ledger records it (a replay makes no LiteLLM call)',
      role: '1 + N/100 pages + N /key/info calls for N keys in LiteLLM (see destroy)',
    },
  ],
});
