/**
 * Cut-over bench: what the window of docs/migration.md costs and does, on the stand-ins with 5 ms
 * of LiteLLM latency. A provision of a new guid with the window open (its client among the
 * window's) against one whose client is not (no lookup); the takeover of a lab the Ansible role
 * made by its destroy, for 1 and 20 users; and the role-made sweep over 20,000 keys of which 1,000
 * are the role's expired keys (500 labs of two users). LiteLLM calls, DynamoDB requests, KMS calls
 * and wall time. Prints figures and goals; asserts nothing.
 */
import '../scripts/check-node.mjs';

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { asClient, deleteKeysEvent, lambdaContext, postKeysEvent } from '../test/support/fixtures/events.ts';
import { startHarness } from '../test/support/harness.ts';
import { dynamoDetail, kmsCalls, measured } from './aws-usage.ts';
import { printSummary } from './goals.ts';

const LATENCY_MS = 5;
const DAY = 86_400_000;
const h = await startHarness({
  ROLE_KEYS_TAKEOVER_UNTIL: '2099-01-01T00:00:00Z',
  ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp',
});
type Handler = (event: unknown, context: Context) => Promise<{ statusCode: number; body: string }>;
const handler = async (name: string) =>
  ((await import(`../functions/${name}.ts`)) as { handler: Handler }).handler;
const [provision, destroy, sweep] = [
  await handler('provision'),
  await handler('destroy'),
  await handler('sweep'),
];
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const SCOPES = ['provision', 'read', 'read-key', 'extend', 'destroy'];

/** Keys as the Ansible role made them: its alias and metadata, no marker of ours. */
function roleKeys(guid: string, users: readonly (string | undefined)[], expires: Date) {
  return users.map((user) => ({
    token: sha256(`role-${guid}-${user ?? ''}`),
    key_name: 'sk-...role',
    key_alias: user ? `virtkey-${guid}-${user}` : `virtkey-${guid}`,
    expires,
    models: ['granite-3-2-8b-instruct'],
    metadata: {
      guid,
      ...(user ? { user } : {}),
      created_by: 'babylon',
      models: 'granite-3-2-8b-instruct',
      duration: '30d',
    },
    user_id: `${user ?? guid}@lab.opentlc.com`,
    max_budget: null,
    created_by: 'default_user_id',
  }));
}

h.litellm.faults.set({ latencyMs: LATENCY_MS });

// 1. New labs' provisions, with the window's lookup (rhdp) and without it (another client).
async function provisions(client: string, prefix: string) {
  // One provision first: the process's first call also reads the proxy's release, once.
  await provision(asClient(postKeysEvent({ guid: `${prefix}-warm` }), client, SCOPES), lambdaContext());
  const runs = [];
  for (let i = 0; i < 15; i++) {
    const event = asClient(postKeysEvent({ guid: `${prefix}${i}` }), client, SCOPES);
    const started = performance.now();
    const run = await measured(h, () => provision(event, lambdaContext()));
    if (run.result.statusCode !== 201) throw new Error(`provision ${prefix}${i}: ${run.result.body}`);
    runs.push({ ...run, ms: performance.now() - started });
  }
  return {
    litellm: Math.max(...runs.map((r) => r.litellm)),
    dynamodb: Math.max(...runs.map((r) => r.dynamodb)),
    detail: runs[0] ? dynamoDetail(runs[0]) : '',
    ms: median(runs.map((r) => r.ms)),
  };
}
const windowOn = await provisions('rhdp', 'new');
const windowOff = await provisions('outsider', 'out');

// 2. Role-made labs taken over and destroyed by their destroy: 1 user (the single alias) and 20.
async function takeover(guid: string, users: readonly (string | undefined)[]) {
  await h.litellm.table.insertMany(roleKeys(guid, users, new Date(Date.now() + 10 * DAY)));
  const started = performance.now();
  const run = await measured(h, () => destroy(deleteKeysEvent(guid), lambdaContext(60_000)));
  const ms = performance.now() - started;
  const body = JSON.parse(run.result.body) as { deleted_keys?: number };
  if (run.result.statusCode !== 200 || body.deleted_keys !== users.length)
    throw new Error(`destroy ${guid}: ${run.result.body}`);
  return { ...run, ms, keys: users.length };
}
const single = await takeover('role-one', [undefined]);
const twenty = await takeover(
  'role-twenty',
  Array.from({ length: 20 }, (_, i) => `user${i + 1}`),
);

// 3. The role-made sweep over 20,000 keys: 1,000 the role's expired (500 labs of 2), the rest others'.
const OTHERS = 19_000;
await h.litellm.table.insertMany(
  Array.from({ length: OTHERS }, (_, i) => ({
    token: sha256(`other-${i}`),
    key_name: 'sk-...othr',
    key_alias: i % 2 ? `team-key-${i}` : `virtkey-live${i}`,
    // Other systems' keys, a third expired; and live keys of labs the role made.
    expires: new Date(Date.now() + (i % 2 && i % 3 === 0 ? -DAY : 30 * DAY)),
    models: ['granite-3-2-8b-instruct'],
    metadata: i % 2 ? {} : { guid: `live${i}`, created_by: 'babylon' },
    user_id: `user${i}@example.com`,
    max_budget: null,
    created_by: 'default_user_id',
  })),
);
for (let lab = 0; lab < 500; lab += 50)
  await h.litellm.table.insertMany(
    Array.from({ length: 50 }, (_, i) =>
      roleKeys(`gone${lab + i}`, ['user1', 'user2'], new Date(Date.now() - 2 * DAY)),
    ).flat(),
  );
const total = await h.litellm.table.count();
const sweepOf = async (input: unknown) => {
  const started = performance.now();
  const run = await measured(
    h,
    () =>
      sweep(input, lambdaContext(900_000)) as unknown as Promise<{
        role_made: Record<string, number | string[]>;
      }>,
  );
  return { ...run, ms: performance.now() - started, report: run.result.role_made };
};
const dry = await sweepOf({ role_made: true, dry_run: true });
const real = await sweepOf({ role_made: true });
const left = await h.litellm.table.count();
const rss = process.resourceUsage().maxRSS / 1024;
await h.close();

const row = (
  what: string,
  r: { litellm: number; dynamodb: number; ms: number } & Parameters<typeof kmsCalls>[0],
) => `| ${what} | ${r.litellm} | ${r.dynamodb} | ${kmsCalls(r)} | ${r.ms.toFixed(0)} |`;
console.log(`# cut-over bench (Node ${process.version}, ${new Date().toISOString()})

LiteLLM stand-in on loopback HTTP with ${LATENCY_MS} ms of latency per request, Postgres: PGlite.
A provision's figures are the most of 15 new labs (wall time the median); a client outside the
window's list makes no lookup, as every client does once the window is closed.

| operation | LiteLLM calls | DynamoDB requests | KMS calls | wall ms |
| --- | --- | --- | --- | --- |
| provision of a new guid, window open | ${windowOn.litellm} | ${windowOn.dynamodb} | 1 | ${windowOn.ms.toFixed(0)} |
| provision of a new guid, no lookup | ${windowOff.litellm} | ${windowOff.dynamodb} | 1 | ${windowOff.ms.toFixed(0)} |
${row('destroy of a lab the role made, 1 key (taken over first)', single)}
${row("destroy of a lab the role made, 20 users' keys (taken over first)", twenty)}
${row(`role-made sweep, dry run, over ${total.toLocaleString('en')} keys`, dry)}
${row('role-made sweep, for real', real)}

DynamoDB of a new guid's provision with the window open: ${windowOn.detail}; without the lookup: ${windowOff.detail}.
The dry run listed ${(dry.report.would_delete as string[]).length} aliases; the real run took over ${real.report.taken_over} labs and deleted
${real.report.deleted} keys (failed ${real.report.failed}); LiteLLM held ${total.toLocaleString('en')} keys before, ${left.toLocaleString('en')} after.
Peak RSS of the process (service and stand-ins together): ${rss.toFixed(0)} MB.`);

printSummary({
  bench: 'cut-over',
  latency: `${LATENCY_MS} ms`,
  goals: [
    {
      goal: 'window open: a new guid’s provision makes at most 2 LiteLLM calls more than without the lookup, and no more DynamoDB requests',
      measured: `${windowOn.litellm} against ${windowOff.litellm} calls; ${windowOn.dynamodb} against ${windowOff.dynamodb} requests`,
      met: windowOn.litellm <= windowOff.litellm + 2 && windowOn.dynamodb <= windowOff.dynamodb,
    },
    {
      goal: 'a 20-user lab the role made, taken over and destroyed: <= 2 calls per key plus 15, under 2 s',
      measured: `${twenty.litellm} calls, ${(twenty.ms / 1000).toFixed(2)} s`,
      met: twenty.litellm <= 2 * 20 + 15 && twenty.ms < 2000,
    },
    {
      goal: 'a role-made lab’s takeover and destroy: 0 KMS calls (its values were never stored)',
      measured: `${kmsCalls(single) + kmsCalls(twenty)} calls`,
      met: kmsCalls(single) + kmsCalls(twenty) === 0,
    },
    {
      goal: 'role-made sweep: the dry run lists exactly the 1,000 expired role keys and changes nothing; the real run deletes them all, nothing else',
      measured: `${(dry.report.would_delete as string[]).length} listed; ${real.report.deleted} deleted, ${total - left} gone`,
      met:
        (dry.report.would_delete as string[]).length === 1000 &&
        real.report.deleted === 1000 &&
        total - left === 1000,
    },
    {
      goal: `role-made sweep over ${total.toLocaleString('en')} keys under 60 s`,
      measured: `${(real.ms / 1000).toFixed(1)} s (dry run ${(dry.ms / 1000).toFixed(1)} s)`,
      met: real.ms < 60_000,
    },
  ],
});
