/**
 * Destroy bench: LiteLLM calls and wall time to destroy one lab while LiteLLM holds 0, 1k, 10k and
 * 100k unrelated keys, beside the role's approach done correctly (every /key/list page, then one
 * /key/info per key to find the lab's alias, then /key/delete), against the same stand-in with the
 * same latency. This service works from the key ids its ledger records: one bulk /v2/key/info (the
 * spend), one /key/delete, then each key probed with its own value (/v1/models), so LiteLLM's size
 * does not enter. Also KMS and DynamoDB calls per destroy. Prints figures and goals; asserts nothing.
 *
 * BENCH_SIZES=0,1000 limits the sizes; BENCH_LATENCY_MS sets the stand-in's latency per request.
 * The role's approach is replayed up to BENCH_ROLE_REPLAY_MAX keys (10,000; replaying 100,000
 * takes about ten minutes); beyond, its calls are counted from its method and its time projected
 * from the largest replay's time per call, and marked so.
 */
import '../scripts/check-node.mjs';

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { deleteKeysEvent, lambdaContext, postKeysEvent } from '../test/support/fixtures/events.ts';
import { MASTER_KEY, startHarness } from '../test/support/harness.ts';
import { dynamoDetail, kmsDetail, resetUsage, usage } from './aws-usage.ts';
import { type Comparison, printSummary } from './goals.ts';

const SIZES = (process.env.BENCH_SIZES ?? '0,1000,10000,100000').split(',').map(Number);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 2);
const LABS_PER_SIZE = 5;
const ROLE_REPLAY_MAX = Number(process.env.BENCH_ROLE_REPLAY_MAX ?? 10_000);

const h = await startHarness({ LITELLM_TIMEOUT_MS: '30000', LITELLM_RETRIES: '3' });
type Handler = (event: unknown, context: Context) => Promise<{ statusCode: number; body: string }>;
const provision = ((await import('../functions/provision.ts')) as { handler: Handler }).handler;
const destroy = ((await import('../functions/destroy.ts')) as { handler: Handler }).handler;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Unrelated keys number `from` to `to - 1`: half of other labs of ours, half of other systems. */
async function populate(from: number, to: number): Promise<void> {
  const now = Date.now();
  await h.litellm.table.insertMany(
    Array.from({ length: to - from }, (_, n) => n + from).map((i) => ({
      token: sha256(`unrelated-${i}`),
      key_name: 'sk-...xxxx',
      key_alias: i % 2 ? `team-key-${i}` : `virtkey-other${i}`,
      expires: new Date(now + 30 * 86_400_000),
      models: ['granite-3-2-8b-instruct'],
      metadata: i % 2 ? {} : { managed_by: 'litellm-virtual-keys', guid: `other${i}` },
      user_id: `user${i}@example.com`,
      max_budget: null,
      created_by: 'default_user_id',
    })),
  );
  const unrelated = await h.litellm.table.count();
  if (unrelated !== to) throw new Error(`expected ${to} keys in the stand-in, found ${unrelated}`);
}

async function provisionLab(guid: string): Promise<void> {
  const answer = await provision(postKeysEvent({ guid }), lambdaContext());
  if (answer.statusCode !== 201) throw new Error(`provision ${guid}: ${answer.statusCode}`);
}

/** This service: one lab destroyed through the deployed handler. */
async function ours(guid: string): Promise<{ calls: number; ms: number; paths: string[] }> {
  await provisionLab(guid);
  resetUsage(h);
  const started = performance.now();
  const answer = await destroy(deleteKeysEvent(guid), lambdaContext(120_000));
  const ms = performance.now() - started;
  if (answer.statusCode !== 200 || !JSON.parse(answer.body).deleted)
    throw new Error(`destroy ${guid}: ${answer.body}`);
  lastAws = usage(h);
  const paths = [...h.litellm.calls].flatMap(([path, count]) => Array.from({ length: count }, () => path));
  return { calls: h.litellm.callCount(), ms, paths };
}
let lastAws: ReturnType<typeof usage> | undefined;

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${h.litellm.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
  });
  return { status: response.status, body: await response.json() };
}

/** The role's approach, done correctly: every page of hashes, /key/info per hash, then delete the matches. */
async function roleApproach(guid: string): Promise<{ calls: number; ms: number }> {
  await provisionLab(guid);
  h.litellm.resetCounters();
  const alias = `virtkey-${guid}`;
  const started = performance.now();
  const matches: string[] = [];
  for (let page = 1; ; page++) {
    const { body } = await call(`/key/list?page=${page}&size=100`);
    const { keys, total_pages } = body as { keys: string[]; total_pages: number };
    for (const hash of keys) {
      const info = await call(`/key/info?key=${hash}`);
      if ((info.body as { info?: { key_alias?: string } }).info?.key_alias === alias) matches.push(hash);
    }
    if (page >= total_pages) break;
  }
  const deleted = await call('/key/delete', { method: 'POST', body: JSON.stringify({ keys: matches }) });
  const ms = performance.now() - started;
  if (deleted.status !== 200 || matches.length !== 1)
    throw new Error(`role approach ${guid}: ${matches.length}`);
  return { calls: h.litellm.callCount(), ms };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

const rows: string[] = [];
const comparisons: Comparison[] = [];
let mostCalls = 0;
let callPaths: string[] = [];
let lastReplay: { calls: number; ms: number } | undefined;
let populated = 0;
h.litellm.faults.set({ latencyMs: LATENCY_MS });
for (const size of SIZES) {
  await populate(populated, size);
  populated = size;
  const runs = [];
  for (let i = 0; i < LABS_PER_SIZE; i++) runs.push(await ours(`bench-${size}-${i}`));
  let role: { calls: number; ms: number; projected?: true };
  if (size <= ROLE_REPLAY_MAX || !lastReplay) {
    role = await roleApproach(`bench-role-${size}`);
    lastReplay = role;
  } else {
    // Its lab's own key makes size + 1 keys: that many /key/info calls, their pages, one delete.
    const calls = Math.ceil((size + 1) / 100) + size + 1 + 1;
    role = { calls, ms: calls * (lastReplay.ms / lastReplay.calls), projected: true };
  }
  const roleNote = role.projected ? ' (projected)' : '';
  mostCalls = Math.max(mostCalls, ...runs.map((r) => r.calls));
  callPaths = runs.at(-1)?.paths ?? [];
  comparisons.push({
    what: `destroy one lab among ${size.toLocaleString('en')} other keys`,
    ours: `${Math.max(...runs.map((r) => r.calls))} calls, ${median(runs.map((r) => r.ms)).toFixed(0)} ms`,
    role: `${role.calls.toLocaleString('en')} calls, ${Math.round(role.ms).toLocaleString('en')} ms${roleNote || ' (replayed)'}`,
  });
  rows.push(
    `| ${size.toLocaleString('en')} | ${Math.max(...runs.map((r) => r.calls))} | ${median(runs.map((r) => r.ms)).toFixed(1)} | ${role.calls.toLocaleString('en')}${roleNote} | ${Math.round(role.ms).toLocaleString('en')}${roleNote} |`,
  );
  console.error(`size ${size} done`);
}
await h.close();

console.log(`# destroy bench (Node ${process.version}, ${new Date().toISOString()})

LiteLLM stand-in on loopback HTTP with ${LATENCY_MS} ms of latency per request, Postgres: ${h.litellm.table.db.kind}.
"This service" is the destroy handler (one bulk read of the key ids its ledger records, one delete,
each key probed with its own value), the median of ${LABS_PER_SIZE} labs of one key each; "role approach" pages /key/list (100 per page), asks /key/info
for every key, then deletes the match; replayed up to ${ROLE_REPLAY_MAX.toLocaleString('en')} keys, projected
beyond from the largest replay's time per call.

| unrelated keys | this service: LiteLLM calls (max) | this service: wall ms (median) | role approach: LiteLLM calls | role approach: wall ms |
| --- | --- | --- | --- | --- |
${rows.join('\n')}

Goal: at most 3 LiteLLM calls per destroy at every size. A one-key destroy's calls: ${callPaths.join(', ')};
KMS: ${lastAws ? kmsDetail(lastAws) : '?'} (the value, for the probe); DynamoDB: ${lastAws ? dynamoDetail(lastAws) : '?'}.
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);

printSummary({
  bench: 'destroy',
  latency: `${LATENCY_MS} ms`,
  goals: [
    {
      goal: `<= 3 LiteLLM calls per destroy, at every size up to ${Math.max(...SIZES).toLocaleString('en')} other keys`,
      measured: `at most ${mostCalls}`,
      met: mostCalls <= 3,
    },
  ],
  comparisons,
});
