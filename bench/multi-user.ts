/**
 * Multi-user bench: calls per user and wall time to provision, replay, extend and destroy labs of
 * 40 and 200 users against the stand-ins with 5 ms of LiteLLM latency, and the peak number of
 * LiteLLM requests in flight against the client's cap. Prints figures; asserts nothing.
 */

import { performance } from 'node:perf_hooks';
import { deleteKeysEvent, extendKeysEvent, lambdaContext, postKeysEvent } from '../test/support/events.ts';
import { importRouteHandlers, startHarness } from '../test/support/harness.ts';

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

type Result = { statusCode?: number };
const rows: string[] = [];
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
    rows.push(
      `| ${users} | ${step} | ${m.ms.toFixed(0)} | ${m.litellm} (${(m.litellm / users).toFixed(2)}) | ${m.secretsManager} (${(m.secretsManager / users).toFixed(2)}) | ${m.peak} |`,
    );
  }
}
const left = await h.litellm.table.count();
await h.close();

console.log(`# multi-user bench (Node ${process.version}, ${new Date().toISOString()})

One lab of N users; LiteLLM stand-in latency ${LATENCY_MS} ms per request; LITELLM_MAX_CONNECTIONS=${CAP}.
Calls are totals, with the per-user figure in brackets.

| users | operation | wall ms | LiteLLM calls (per user) | Secrets Manager calls (per user) | peak LiteLLM requests in flight (cap ${CAP}) |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Keys left in the stand-in afterwards: ${left} (expected 0).
Peak RSS of the process (service and stand-ins together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);
