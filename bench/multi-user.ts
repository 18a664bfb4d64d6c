/**
 * Multi-user bench: calls per user (LiteLLM, KMS, DynamoDB, Secrets Manager) and wall time to
 * provision, replay, extend and destroy labs of 40 and 200 users against the stand-ins with 5 ms
 * of LiteLLM latency, the size of each lab's ledger item, and the peak number of LiteLLM requests
 * in flight against the client's cap. Prints figures and goals; asserts nothing.
 */
import '../scripts/check-node.mjs';

import { performance } from 'node:perf_hooks';
import {
  deleteKeysEvent,
  extendKeysEvent,
  lambdaContext,
  postKeysEvent,
} from '../test/support/fixtures/events.ts';
import { importRouteHandlers, MASTER_KEY, startHarness } from '../test/support/harness.ts';
import { type AwsUsage, kmsCalls, ledgerItem, resetUsage, usage } from './aws-usage.ts';
import { printSummary } from './goals.ts';

const LATENCY_MS = 5;
const CAP = 10;
const SIZES = [40, 200];

const h = await startHarness({
  LITELLM_TIMEOUT_MS: '30000',
  LITELLM_RETRIES: '3',
  LITELLM_MAX_CONNECTIONS: String(CAP),
});
const handlers = await importRouteHandlers();
// A warm container: the master key read and LiteLLM's release checked before the rows are measured.
for (const warm of [
  () => handlers.provision(postKeysEvent({ guid: 'bench-warm' }), lambdaContext()),
  () => handlers.destroy(deleteKeysEvent('bench-warm'), lambdaContext()),
]) {
  const { statusCode } = (await warm()) as { statusCode?: number };
  if (statusCode !== 200 && statusCode !== 201) throw new Error(`warm-up answered ${statusCode}`);
}
h.litellm.faults.set({ latencyMs: LATENCY_MS });

async function measure(
  run: () => Promise<{ statusCode?: number }>,
): Promise<AwsUsage & { ms: number; peak: number }> {
  resetUsage(h);
  h.litellm.peakInFlight = 0;
  const started = performance.now();
  const result = await run();
  if (result.statusCode !== 200 && result.statusCode !== 201)
    throw new Error(`answered ${result.statusCode}`);
  return { ms: performance.now() - started, ...usage(h), peak: h.litellm.peakInFlight };
}

/** The role's way: one /key/generate per user, one after another, straight to LiteLLM. */
async function roleProvision(users: number): Promise<number> {
  const started = performance.now();
  for (let i = 1; i <= users; i++) {
    const response = await fetch(`${h.litellm.url}/key/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key_alias: `role-ws${users}-user${i}`, models: ['granite-3-2-8b-instruct'] }),
    });
    await response.arrayBuffer();
  }
  return performance.now() - started;
}

type Result = { statusCode?: number };
type Measured = Awaited<ReturnType<typeof measure>>;
const rows: string[] = [];
const measured = new Map<string, Measured>();
const role = new Map<number, number>();
const items = new Map<number, Awaited<ReturnType<typeof ledgerItem>>>();
for (const users of SIZES) {
  const guid = `bench-ws${users}`;
  const steps: [string, () => Promise<Result>][] = [
    [
      'provision',
      () => handlers.provision(postKeysEvent({ guid, users }), lambdaContext()) as Promise<Result>,
    ],
    ['replay', () => handlers.provision(postKeysEvent({ guid, users }), lambdaContext()) as Promise<Result>],
    [
      'extend',
      () => handlers.extend(extendKeysEvent(guid, { duration: '30d' }), lambdaContext()) as Promise<Result>,
    ],
    ['destroy', () => handlers.destroy(deleteKeysEvent(guid), lambdaContext()) as Promise<Result>],
  ];
  for (const [step, run] of steps) {
    const m = await measure(run);
    measured.set(`${users} ${step}`, m);
    if (step === 'extend') items.set(users, await ledgerItem(h, guid));
    const perUser = (n: number) => `${n} (${(n / users).toFixed(2)})`;
    rows.push(
      `| ${users} | ${step} | ${m.ms.toFixed(0)} | ${perUser(m.litellm)} | ${perUser(kmsCalls(m))} | ${m.dynamodb} | ${m.secretsManager} | ${m.peak} |`,
    );
  }
}
for (const users of SIZES) role.set(users, await roleProvision(users));
const left = (await h.litellm.table.count()) - SIZES.reduce((a, b) => a + b, 0);
await h.close();

console.log(`# multi-user bench (Node ${process.version}, ${new Date().toISOString()})

One lab of N users; LiteLLM stand-in latency ${LATENCY_MS} ms per request; LITELLM_MAX_CONNECTIONS=${CAP}; warm container.
Calls are totals, with the per-user figure in brackets.

| users | operation | wall ms | LiteLLM calls (per user) | KMS calls (per user) | DynamoDB requests | Secrets Manager calls | peak LiteLLM requests in flight (cap ${CAP}) |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

The lab's ledger item (one item, every user's key in it), at DynamoDB's billed size with the KMS stand-in's sealed values:
${SIZES.map((users) => `${users} users ${((items.get(users)?.bytes ?? 0) / 1024).toFixed(1)} KB`).join(', ')} (DynamoDB's limit: 400 KB;
a move holds both targets' keys for a while, about twice that).

Keys left in the stand-in afterwards: ${left} (expected 0).
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);

const largest = SIZES.at(-1) as number;
const big = (step: string) => measured.get(`${largest} ${step}`) as Measured;
const destroyCalls = Math.max(
  ...SIZES.map((users) => (measured.get(`${users} destroy`) as Measured).litellm - users),
);
const dynamoMost = Math.max(...[...measured.values()].map((m) => m.dynamodb));
const largestItem = items.get(largest)?.bytes ?? 0;
const peakAll = Math.max(...[...measured.values()].map((m) => m.peak));
printSummary({
  bench: 'multi-user',
  latency: `${LATENCY_MS} ms`,
  goals: [
    { goal: `peak LiteLLM requests in flight <= ${CAP}`, measured: String(peakAll), met: peakAll <= CAP },
    {
      goal: `${largest}-user provision: <= 2.05 LiteLLM calls per user`,
      measured: (big('provision').litellm / largest).toFixed(2),
      met: big('provision').litellm / largest <= 2.05,
    },
    {
      goal: `${largest}-user provision under 3 s`,
      measured: `${(big('provision').ms / 1000).toFixed(2)} s`,
      met: big('provision').ms < 3000,
      reason: `${largest} keys made ${CAP} at a time at ${LATENCY_MS} ms each, after ${largest} KMS Encrypt calls ten at a time and a ${(largestItem / 1024).toFixed(0)} KB ledger write, on dynalite sharing this 2-core machine`,
    },
    {
      goal: 'destroy: <= 2 LiteLLM calls + 1 per user (one bulk read, one delete, one probe per key), at every size',
      measured: `at most ${destroyCalls} + 1 per user`,
      met: destroyCalls <= 2,
    },
    {
      goal: 'provision, replay, extend, destroy: 1 KMS call per user',
      measured: [
        ...new Set(
          [...measured.entries()].map(([name, m]) => (kmsCalls(m) / Number(name.split(' ')[0])).toFixed(2)),
        ),
      ].join(', '),
      met: [...measured.entries()].every(([name, m]) => kmsCalls(m) === Number(name.split(' ')[0])),
    },
    {
      goal: 'DynamoDB requests per operation independent of the users: <= 4',
      measured: `at most ${dynamoMost}`,
      met: dynamoMost <= 4,
    },
    {
      goal: `${largest}-user lab's ledger item, twice over (during a move), under DynamoDB's 400 KB`,
      measured: `${((2 * largestItem) / 1024).toFixed(0)} KB`,
      met: 2 * largestItem < 400 * 1024,
    },
    { goal: 'no key left after destroy', measured: `${left} left`, met: left === 0 },
  ],
  comparisons: SIZES.map((users) => ({
    what: `provision ${users} users' keys`,
    ours: `${(measured.get(`${users} provision`) as Measured).ms.toFixed(0)} ms, ${CAP} at a time, each value sealed and recorded first`,
    role: `${(role.get(users) as number).toFixed(0)} ms, one /key/generate after another, nothing stored (replayed)`,
  })),
});
