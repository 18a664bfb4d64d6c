/**
 * Targets bench: two LiteLLM stand-ins (`default` and `east`, 5 ms of latency each) behind one
 * deployment. How many calls a lab on one target costs the other (goal: none), what a target that
 * is down costs the other's labs (goal: no call to it, and provisions as fast as with it up), and
 * what moving a 200-user lab costs (the move function, functions/move.ts): wall time, LiteLLM calls
 * per key on each side, KMS, DynamoDB and Secrets Manager calls, requests in flight against each
 * target's cap. Prints figures and goals; asserts nothing.
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
import {
  type Handler,
  importRouteHandlers,
  MASTER_KEY_SECRET_ID,
  startHarness,
} from '../test/support/harness.ts';
import { LiteLlmStandIn } from '../test/support/stand-ins/litellm/server.ts';
import { dynamoDetail, kmsCalls, kmsDetail, resetUsage, usage } from './aws-usage.ts';
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
const moveHandler = ((await import('../functions/move.ts')) as { handler: Handler }).handler;
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
  resetUsage(h);
  for (const proxy of [h.litellm, east]) {
    proxy.resetCounters();
    proxy.peakInFlight = 0;
  }
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

// A lab on east, through its whole life: the default proxy's share.
reset();
await call(route.provision, postKeysEvent({ guid: 'iso1', target: 'east', package: 'ai-beginner' }));
await call(route.status, getKeysEvent('iso1'));
await call(route.extend, extendKeysEvent('iso1', { duration: '10d' }));
await call(route.destroy, deleteKeysEvent('iso1'));
const isolation = { onDefault: h.litellm.callCount(), onEast: east.callCount() };

// Provisions on default, with east up and with east answering 503 to everything, taken in turn
// (one up, one down) so that the emulators' drift over the run falls on both alike.
async function provisionOnDefault(guid: string): Promise<{ ms: number; eastCalls: number }> {
  const eastBefore = east.callCount();
  const started = performance.now();
  await call(route.provision, postKeysEvent({ guid, package: 'ai-beginner' }));
  return { ms: performance.now() - started, eastCalls: east.callCount() - eastBefore };
}
for (let i = 0; i < ROUNDS; i++) await provisionOnDefault(`warm${i}`);
reset();
const rounds = {
  up: [] as { ms: number; eastCalls: number }[],
  down: [] as { ms: number; eastCalls: number }[],
};
for (let i = 0; i < ROUNDS; i++) {
  east.faults.set({ latencyMs: LATENCY_MS });
  rounds.up.push(await provisionOnDefault(`up${i}`));
  east.faults.set({ latencyMs: LATENCY_MS, errorRate: 1 });
  rounds.down.push(await provisionOnDefault(`down${i}`));
}
east.faults.set({ latencyMs: LATENCY_MS });
const summary = (runs: { ms: number; eastCalls: number }[]) => ({
  p50: median(runs.map((run) => run.ms)),
  eastCalls: runs.reduce((sum, run) => sum + run.eastCalls, 0),
});
const up = summary(rounds.up);
const down = summary(rounds.down);

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
await call(moveHandler, moveEvent('mv200'));
const move = {
  ms: performance.now() - started,
  onDefault: h.litellm.callCount(),
  onEast: east.callCount(),
  ...usage(h),
  peak: Math.max(h.litellm.peakInFlight, east.peakInFlight),
};
reset();
const replayStarted = performance.now();
await call(moveHandler, moveEvent('mv200'));
const replay = {
  ms: performance.now() - replayStarted,
  mutating: h.litellm.mutatingCalls() + east.mutatingCalls(),
  ...usage(h),
  onEast: east.callCount(),
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
| ${ROUNDS} provisions on default, east answering 503 (taken in turn with the above): median wall ms, calls to east | ${down.p50.toFixed(1)}, ${down.eastCalls} |
| move of a ${USERS}-user lab default → east: wall ms | ${move.ms.toFixed(0)} |
| its LiteLLM calls on default (per key) / on east (per key) | ${move.onDefault} (${perKey(move.onDefault)}) / ${move.onEast} (${perKey(move.onEast)}) |
| its KMS calls (per key) | ${kmsDetail(move)} (${perKey(kmsCalls(move))}) |
| its DynamoDB requests | ${dynamoDetail(move)} |
| its Secrets Manager calls | ${move.secretsManager} |
| its peak LiteLLM requests in flight on one target (cap ${CAP}) | ${move.peak} |
| the same move again: wall ms, calls that change LiteLLM | ${replay.ms.toFixed(0)}, ${replay.mutating} |
| the same move again: LiteLLM calls on east, KMS calls, DynamoDB requests | ${replay.onEast}, ${kmsDetail(replay)}, ${dynamoDetail(replay)} |
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
      reason: `${USERS} new values sealed (a KMS call each, ten at a time), ${USERS} keys made ${CAP} at a time at ${LATENCY_MS} ms each, and ${move.dynamodb} writes of a lab item holding both targets' keys, on dynalite sharing this 2-core machine`,
    },
    {
      goal: 'move: at most 2.1 LiteLLM calls per key, both targets together',
      measured: totalPerKey.toFixed(2),
      met: totalPerKey <= 2.1,
    },
    {
      goal: 'move: at most 2 KMS calls per key moved',
      measured: `${perKey(kmsCalls(move))} (${kmsDetail(move)})`,
      met: kmsCalls(move) / USERS <= 2,
    },
    {
      goal: 'move: 0 Secrets Manager calls',
      measured: `${move.secretsManager} calls`,
      met: move.secretsManager === 0,
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
