/**
 * Targets bench: two LiteLLM stand-ins (`default` and `east`, 5 ms of latency each) behind one
 * deployment. How many calls a lab on one target costs the other (goal: none), what a target that
 * is down costs the other's labs (goal: no call to it, and provisions as fast as with it up), and
 * what moving a 200-user lab costs: wall time, LiteLLM calls per key on each side, Secrets Manager
 * calls per key, requests in flight against each target's cap. Prints figures; asserts nothing.
 */
import '../scripts/check-node.mjs';

import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  postKeysEvent,
} from '../test/support/fixtures/events.ts';
import { importRouteHandlers, MASTER_KEY_SECRET_ID, startHarness } from '../test/support/harness.ts';
import { LiteLlmStandIn } from '../test/support/stand-ins/litellm/server.ts';
import { printSummary } from './goals.ts';

const LATENCY_MS = 5;
const CAP = 10;
const USERS = 200;
const ROUNDS = 30;
const EAST_KEY = 'sk-bench-east-master-0123456789abcdef';
const EAST_SECRET = 'litellm-virtual-keys/litellm-master-key-east';

const east = await LiteLlmStandIn.start({ masterKey: EAST_KEY });
const h = await startHarness({
  LITELLM_TIMEOUT_MS: '30000',
  LITELLM_RETRIES: '3',
  LITELLM_MAX_CONNECTIONS: String(CAP),
});
h.secrets.put(EAST_SECRET, EAST_KEY);
process.env.LITELLM_TARGETS = JSON.stringify({
  default: { url: h.litellm.url, master_key_secret_id: MASTER_KEY_SECRET_ID },
  east: { url: east.url, master_key_secret_id: EAST_SECRET },
});
const route = await importRouteHandlers();
for (const proxy of [h.litellm, east]) proxy.faults.set({ latencyMs: LATENCY_MS });

type Result = { statusCode?: number };
const call = async (
  handler: (e: unknown, c: ReturnType<typeof lambdaContext>) => Promise<unknown>,
  event: unknown,
) => {
  const result = (await handler(event, lambdaContext())) as Result;
  if (result.statusCode !== 200 && result.statusCode !== 201)
    throw new Error(`answered ${result.statusCode}`);
};
const reset = () => {
  for (const proxy of [h.litellm, east]) {
    proxy.resetCounters();
    proxy.peakInFlight = 0;
  }
  h.secrets.resetCounters();
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

// A lab on east, through its whole life: the default proxy's share.
reset();
await call(route.provision, postKeysEvent({ guid: 'iso1', target: 'east', package: 'ai-beginner' }));
await call(route.status, getKeysEvent('iso1'));
await call(route.extend, extendKeysEvent('iso1', { duration: '10d' }));
await call(route.destroy, deleteKeysEvent('iso1'));
const isolation = { onDefault: h.litellm.callCount(), onEast: east.callCount() };

// Provisions on default, with east up and with east answering 503 to everything.
async function provisions(prefix: string): Promise<{ p50: number; eastCalls: number }> {
  reset();
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await call(route.provision, postKeysEvent({ guid: `${prefix}${i}`, package: 'ai-beginner' }));
    times.push(performance.now() - started);
  }
  return { p50: median(times), eastCalls: east.callCount() };
}
await provisions('warm');
const up = await provisions('up');
east.faults.set({ latencyMs: LATENCY_MS, errorRate: 1 });
const down = await provisions('down');
east.faults.set({ latencyMs: LATENCY_MS });

// A 200-user lab moved from default to east.
await call(route.provision, postKeysEvent({ guid: 'mv200', users: USERS, package: 'ai-beginner' }));
reset();
const moveEvent = (guid: string): APIGatewayProxyEventV2 => {
  const event = extendKeysEvent(guid, { target: 'east' });
  event.routeKey = 'POST /keys/{guid}/move';
  event.requestContext.routeKey = event.routeKey;
  return event;
};
const started = performance.now();
await call(route.provision, moveEvent('mv200'));
const move = {
  ms: performance.now() - started,
  onDefault: h.litellm.callCount(),
  onEast: east.callCount(),
  secretsManager: h.secrets.callCount(),
  peak: Math.max(h.litellm.peakInFlight, east.peakInFlight),
};
reset();
const replayStarted = performance.now();
await call(route.provision, moveEvent('mv200'));
const replay = {
  ms: performance.now() - replayStarted,
  mutating: h.litellm.mutatingCalls() + east.mutatingCalls(),
};
const leftOnDefault = (await h.litellm.table.list({ key_alias: 'virtkey-mv200', substring: true }, 1, 1000))
  .rows.length;
const onEastAfter = (await east.table.list({ key_alias: 'virtkey-mv200', substring: true }, 1, 1000)).rows
  .length;
const rss = process.resourceUsage().maxRSS / 1024;
await east.close();
await h.close();

const perKey = (calls: number) => (calls / USERS).toFixed(2);
console.log(`# targets bench (Node ${process.version}, ${new Date().toISOString()})

Two LiteLLM stand-ins as the targets default and east, ${LATENCY_MS} ms of latency per request each;
LITELLM_MAX_CONNECTIONS=${CAP}.

| measured | figure |
| --- | --- |
| a lab on east provisioned, read, extended and destroyed: calls to default / to east | ${isolation.onDefault} / ${isolation.onEast} |
| ${ROUNDS} provisions on default, east up: median wall ms, calls to east | ${up.p50.toFixed(1)}, ${up.eastCalls} |
| ${ROUNDS} provisions on default, east answering 503: median wall ms, calls to east | ${down.p50.toFixed(1)}, ${down.eastCalls} |
| move of a ${USERS}-user lab default → east: wall ms | ${move.ms.toFixed(0)} |
| its LiteLLM calls on default (per key) / on east (per key) | ${move.onDefault} (${perKey(move.onDefault)}) / ${move.onEast} (${perKey(move.onEast)}) |
| its Secrets Manager calls (per key) | ${move.secretsManager} (${perKey(move.secretsManager)}) |
| its peak LiteLLM requests in flight on one target (cap ${CAP}) | ${move.peak} |
| the same move again: wall ms, calls that change LiteLLM | ${replay.ms.toFixed(0)}, ${replay.mutating} |
| keys of the lab left on default / on east afterwards | ${leftOnDefault} / ${onEastAfter} |

Peak RSS of the process (service and stand-ins together): ${rss.toFixed(0)} MB.`);

const totalPerKey = (move.onDefault + move.onEast) / USERS;
printSummary({
  bench: 'targets',
  latency: `${LATENCY_MS} ms`,
  goals: [
    {
      goal: 'a lab on one target makes 0 calls to another',
      measured: `${isolation.onDefault} calls to default for a lab on east`,
      met: isolation.onDefault === 0,
    },
    {
      goal: 'a target that is down gets 0 calls from the other target’s provisions',
      measured: `${down.eastCalls} calls`,
      met: down.eastCalls === 0,
    },
    {
      goal: 'provisions on a healthy target no slower while another is down (median within 1.2×)',
      measured: `${down.p50.toFixed(1)} ms against ${up.p50.toFixed(1)} ms (${(down.p50 / up.p50).toFixed(2)}×)`,
      met: down.p50 <= up.p50 * 1.2,
    },
    {
      goal: `move of a ${USERS}-user lab under 6 s`,
      measured: `${(move.ms / 1000).toFixed(2)} s`,
      met: move.ms < 6000,
      reason:
        'each key is pinned, made, listed and recorded in the ledger by itself (ten at a time), then switched with two ledger writes and a Secrets Manager write, on dynalite sharing this 2-core machine',
    },
    {
      goal: 'move: at most 2.1 LiteLLM calls per key, both targets together',
      measured: totalPerKey.toFixed(2),
      met: totalPerKey <= 2.1,
    },
    {
      goal: 'move: at most 4 Secrets Manager calls per key',
      measured: perKey(move.secretsManager),
      met: move.secretsManager / USERS <= 4,
    },
    {
      goal: `peak LiteLLM requests in flight on a target <= ${CAP}`,
      measured: String(move.peak),
      met: move.peak <= CAP,
    },
    {
      goal: 'a repeated move changes nothing on either proxy',
      measured: `${replay.mutating} changing calls`,
      met: replay.mutating === 0,
    },
    {
      goal: 'no key of a moved lab left on its old target',
      measured: `${leftOnDefault} left, ${onEastAfter} on the new`,
      met: leftOnDefault === 0 && onEastAfter === USERS,
    },
  ],
});
