/**
 * Multi-user bench: calls per user and wall time to provision, replay, extend and destroy labs of
 * 40 and 200 users against the stand-ins with 5 ms of LiteLLM latency, and the peak number of
 * LiteLLM requests in flight against the client's cap. Prints figures; asserts nothing.
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
h.litellm.faults.set({ latencyMs: LATENCY_MS });

async function measure(run: () => Promise<{ statusCode?: number }>) {
  h.litellm.resetCounters();
  h.secrets.resetCounters();
  h.litellm.peakInFlight = 0;
  const started = performance.now();
  const result = await run();
  if (result.statusCode !== 200 && result.statusCode !== 201)
    throw new Error(`answered ${result.statusCode}`);
  return {
    ms: performance.now() - started,
    litellm: h.litellm.callCount(),
    secretsManager: h.secrets.callCount(),
    peak: h.litellm.peakInFlight,
  };
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
    rows.push(
      `| ${users} | ${step} | ${m.ms.toFixed(0)} | ${m.litellm} (${(m.litellm / users).toFixed(2)}) | ${m.secretsManager} (${(m.secretsManager / users).toFixed(2)}) | ${m.peak} |`,
    );
  }
}
for (const users of SIZES) role.set(users, await roleProvision(users));
const left = (await h.litellm.table.count()) - SIZES.reduce((a, b) => a + b, 0);
await h.close();

console.log(`# multi-user bench (Node ${process.version}, ${new Date().toISOString()})

One lab of N users; LiteLLM stand-in latency ${LATENCY_MS} ms per request; LITELLM_MAX_CONNECTIONS=${CAP}.
Calls are totals, with the per-user figure in brackets.

| users | operation | wall ms | LiteLLM calls (per user) | Secrets Manager calls (per user) | peak LiteLLM requests in flight (cap ${CAP}) |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Keys left in the stand-in afterwards: ${left} (expected 0).
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);

const largest = SIZES.at(-1) as number;
const big = (step: string) => measured.get(`${largest} ${step}`) as Measured;
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
      reason:
        'each user’s key is recorded in the ledger as it is made (a conditional write per user, on dynalite sharing this 2-core machine), so a destroy racing the provision finds every key',
    },
    { goal: 'no key left after destroy', measured: `${left} left`, met: left === 0 },
  ],
  comparisons: SIZES.map((users) => ({
    what: `provision ${users} users' keys`,
    ours: `${(measured.get(`${users} provision`) as Measured).ms.toFixed(0)} ms, ${CAP} at a time, each value stored first`,
    role: `${(role.get(users) as number).toFixed(0)} ms, one /key/generate after another, nothing stored (replayed)`,
  })),
});
