/**
 * API clients as the authorizer and the route functions see them together: a client holding
 * several tokens (a rotation keeps its labs), a token two clients share, a context without
 * scopes, and a client's cap on its live labs.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import type { Decision } from '../../functions/authorizer.ts';
import { linesLeaking, logEntries, logLines, metricLines } from '../support/checks/logs.ts';
import {
  asClient,
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  postKeysEvent,
  sampleEvent,
} from '../support/fixtures/events.ts';
import { type HttpAnswer, invokeHttp } from '../support/fixtures/http.ts';
import { API_TOKENS_SECRET_ID, type Handler, useHarness } from '../support/harness.ts';

const OLD = 'portal-token-2026-06-0123456789';
const NEW = 'portal-token-2026-12-9876543210';
const OTHER = 'other-client-token-000000000000';
const SCOPES = ['provision', 'read', 'extend', 'destroy'];
const PROBLEM = 'urn:litellm-virtual-keys:problem:';

let authorizer: (event: APIGatewayRequestAuthorizerEventV2, context: unknown) => Promise<Decision>;
const { h, route, issued } = useHarness(
  { API_TOKENS_CACHE_MS: '60000' },
  {
    setUp: async () => {
      ({ handler: authorizer } = (await import('../../functions/authorizer.ts')) as {
        handler: typeof authorizer;
      });
    },
  },
);
beforeEach(() => clearCache(['api-tokens']));

/** The API tokens secret as the operator stores it; the authorizer reads it afresh. */
function storeTokens(secret: Record<string, unknown>): void {
  h.secrets.replace(API_TOKENS_SECRET_ID, JSON.stringify(secret));
  clearCache(['api-tokens']);
}

async function authorize(token: string): Promise<Decision> {
  const event = sampleEvent<APIGatewayRequestAuthorizerEventV2>('http-authorizer-request.json');
  event.headers = { ...event.headers, authorization: `Bearer ${token}` };
  return authorizer(event, lambdaContext());
}

/** A route event sent with `token`: the authorizer decides, and its context reaches the function. */
async function callWith(token: string, handler: Handler, event: APIGatewayProxyEventV2): Promise<HttpAnswer> {
  const decision = await authorize(token);
  assert.equal(decision.isAuthorized, true, 'the token is refused');
  if (!decision.isAuthorized) throw new Error('unreachable');
  Object.assign(event.requestContext, { authorizer: { lambda: decision.context } });
  const answer = await invokeHttp(handler, event, lambdaContext());
  return keep(answer);
}

/** Keys handed out are looked for in every log line and event at the end. */
function keep(answer: HttpAnswer): HttpAnswer {
  for (const value of Object.values(answer.body))
    if (typeof value === 'string' && value.startsWith('sk-')) issued.add(value);
  return answer;
}

const send = async (handler: Handler, event: APIGatewayProxyEventV2) =>
  keep(await invokeHttp(handler, event, lambdaContext()));

describe('several tokens under one client name', () => {
  it('keeps a client’s labs through a rotation: made with the old token, seen, extended and destroyed with the new', async () => {
    storeTokens({ portal: { token: OLD, scopes: SCOPES } });
    const made = await callWith(
      OLD,
      route.provision,
      postKeysEvent({ guid: 'rot1', package: 'ai-beginner' }),
    );
    assert.equal(made.status, 201);
    const second = await callWith(OLD, route.provision, postKeysEvent({ guid: 'rot2' }));
    assert.equal(second.status, 201);

    // Step 1: the new token added beside the old one; both act as the client.
    storeTokens({ portal: { tokens: [OLD, NEW], scopes: SCOPES } });
    assert.deepEqual(await authorize(NEW), await authorize(OLD));
    const seen = await callWith(NEW, route.status, getKeysEvent('rot1'));
    assert.equal(seen.status, 200);
    assert.equal(seen.body.guid, 'rot1');
    const extended = await callWith(NEW, route.extend, extendKeysEvent('rot1', { duration: '2d' }));
    assert.equal(extended.status, 200);

    // Step 2: the old token removed: refused, and the new one still holds the labs.
    storeTokens({ portal: { tokens: [NEW], scopes: SCOPES } });
    assert.deepEqual(await authorize(OLD), { isAuthorized: false });
    const destroyed = await callWith(NEW, route.destroy, deleteKeysEvent('rot2'));
    assert.equal(destroyed.status, 200);
    assert.equal((await h.ledger.lab('rot2')).lab?.lab_state, 'destroyed');
    assert.equal((await callWith(NEW, route.status, getKeysEvent('rot1'))).status, 200);
    // A replay of the old token's provision, by the new one: the same lab, nothing made.
    const replay = await callWith(
      NEW,
      route.provision,
      postKeysEvent({ guid: 'rot1', package: 'ai-beginner' }),
    );
    assert.equal(replay.status, 200);
    assert.equal(replay.body.litellm_api_key, made.body.litellm_api_key);
  });

  it('reads a plain list as every scope, and `token` beside `tokens` as one more token', async () => {
    storeTokens({ rhdp: [OLD, NEW], portal: { token: OTHER, tokens: [`${OTHER}1`], scopes: ['read'] } });
    for (const token of [OLD, NEW]) {
      const decision = await authorize(token);
      assert.equal(decision.isAuthorized && decision.context.client, 'rhdp');
      assert.equal(decision.isAuthorized && decision.context.scopes.split(' ').length, 7);
    }
    for (const token of [OTHER, `${OTHER}1`]) {
      assert.deepEqual(await authorize(token), {
        isAuthorized: true,
        context: { client: 'portal', scopes: 'read' },
      });
    }
  });

  it('refuses a token two clients share, naming both clients and never the token', async () => {
    const from = logLines.length;
    storeTokens({
      portal: { tokens: [OLD, NEW], scopes: SCOPES },
      workshop: { token: NEW, scopes: ['read'] },
      rhdp: OTHER,
      empty: { tokens: [], scopes: ['read'] },
    });
    assert.deepEqual(await authorize(NEW), { isAuthorized: false });
    // The client's other token, and the other clients, are unaffected.
    assert.equal((await authorize(OLD)).isAuthorized, true);
    assert.equal((await authorize(OTHER)).isAuthorized, true);
    const warning = logEntries()
      .slice(from)
      .find((entry) => entry.message === 'API tokens secret has unusable entries; they grant nothing');
    assert.deepEqual(warning?.entries, [
      'empty (token)',
      'a token listed under clients portal and workshop (one token, one client)',
    ]);
    assert.equal(warning?.usable, 2);
    assert.deepEqual(linesLeaking([OLD, NEW, OTHER]), []);
  });
});

describe('an authorizer context without scopes', () => {
  it('grants nothing, whatever client it names', async () => {
    const event = postKeysEvent({ guid: 'noscope1' });
    Object.assign(event.requestContext, { authorizer: { lambda: { client: 'rhdp' } } });
    const answer = await send(route.provision, event);
    assert.equal(answer.status, 403);
    assert.equal(answer.body.type, `${PROBLEM}missing-scope`);
    assert.equal((await h.ledger.lab('noscope1')).lab, undefined);
    assert.equal(await h.litellm.table.count(), 0);
  });
});

describe('a client’s cap on live labs', () => {
  const capped = (event: APIGatewayProxyEventV2) => asClient(event, 'portal', SCOPES, { max_live_labs: 2 });

  it('answers a new lab at the cap with 429 naming the cap and the count, and lets replays and other clients through', async () => {
    for (const guid of ['cap1', 'cap2']) {
      assert.equal((await send(route.provision, capped(postKeysEvent({ guid })))).status, 201);
    }
    // Another client's labs do not count against portal's cap, nor do its destroyed ones.
    assert.equal((await send(route.provision, postKeysEvent({ guid: 'rhdp1' }))).status, 201);
    const keysBefore = await h.litellm.table.count();

    const metricsFrom = metricLines.length;
    const refused = await send(route.provision, capped(postKeysEvent({ guid: 'cap3' })));
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.body, {
      type: `${PROBLEM}client-live-labs-cap`,
      title: 'Too many live labs',
      status: 429,
      detail:
        'API client portal has 2 live labs, its cap max_live_labs is 2; nothing was created: destroy one of its labs first',
      errors: [],
    });
    assert.equal((await h.ledger.lab('cap3')).lab, undefined, 'nothing written for the refused lab');
    const refusals = metricLines
      .slice(metricsFrom)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((metric) => 'Refusals' in metric && metric.operation === 'provision');
    assert.equal(refusals.length, 1);
    assert.equal(await h.litellm.table.count(), keysBefore);

    // A replay of a lab it holds is not a new lab.
    const replay = await send(route.provision, capped(postKeysEvent({ guid: 'cap1' })));
    assert.equal(replay.status, 200);

    // Below the cap again once a lab is destroyed.
    assert.equal((await send(route.destroy, capped(deleteKeysEvent('cap2')))).status, 200);
    assert.equal((await send(route.provision, capped(postKeysEvent({ guid: 'cap3' })))).status, 201);
  });

  it('refuses every new lab with a cap of 0, and costs no query without a cap', async () => {
    const zero = asClient(postKeysEvent({ guid: 'zero1' }), 'closed', SCOPES, { max_live_labs: 0 });
    const answer = await send(route.provision, zero);
    assert.equal(answer.status, 429);
    assert.match(String(answer.body.detail), /API client closed has 0 live labs, its cap max_live_labs is 0/);
    h.ledger.resetCounters();
    assert.equal((await send(route.provision, postKeysEvent({ guid: 'free1' }))).status, 201);
    assert.equal(h.ledger.callCount('Query'), 0);
  });
});
