import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearCache } from '@middy/util';
import type { APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import type { Decision } from '../../functions/authorizer.ts';
import { linesLeaking, logEntries, logLines } from '../support/checks/logs.ts';
import { lambdaContext, sampleEvent } from '../support/fixtures/events.ts';
import { API_TOKENS_SECRET_ID, type Harness, startHarness } from '../support/harness.ts';

/** Tokens are re-read after this long, as API_TOKENS_CACHE_MS sets it in a deployment (60 s there). */
const CACHE_MS = 250;
const RHDP = 'rhdp-token-0123456789abcdef';
const RHDP_NEXT = 'rhdp-token-next-fedcba9876543210';
const OPS = 'ops-token-00000000000000000000';
/** What a plain token grants: everything, as before scopes existed. */
const EVERY_SCOPE = 'provision read read-key extend destroy list all-labs';

let h: Harness;
let handler: (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<Decision>;

before(async () => {
  h = await startHarness({ API_TOKENS_CACHE_MS: String(CACHE_MS) });
  ({ handler } = await import('../../functions/authorizer.ts'));
});
after(() => h.close());
beforeEach(async () => {
  clearCache();
  await h.reset();
  h.secrets.replace(API_TOKENS_SECRET_ID, JSON.stringify({ rhdp: RHDP, ops: OPS }));
});

function request(authorization?: string): APIGatewayRequestAuthorizerEventV2 {
  const event = sampleEvent<APIGatewayRequestAuthorizerEventV2>('http-authorizer-request.json');
  const headers = { ...event.headers };
  delete headers.authorization;
  if (authorization !== undefined) headers.authorization = authorization;
  return { ...event, headers, identitySource: authorization === undefined ? [] : [authorization] };
}

const decide = (authorization?: string) => handler(request(authorization), lambdaContext());

describe('authorizer', () => {
  it('denies no header and a wrong token, allows a right one and names its client', async () => {
    assert.deepEqual(await decide(), { isAuthorized: false });
    assert.deepEqual(await decide('Bearer not-a-known-token-at-all'), { isAuthorized: false });
    assert.deepEqual(await decide(`Bearer ${RHDP}`), {
      isAuthorized: true,
      context: { client: 'rhdp', scopes: EVERY_SCOPE },
    });
    assert.deepEqual(await decide(`Bearer ${OPS}`), {
      isAuthorized: true,
      context: { client: 'ops', scopes: EVERY_SCOPE },
    });
  });

  it('takes the scheme in any case and refuses any other shape of header', async () => {
    assert.equal((await decide(`bearer ${RHDP}`)).isAuthorized, true);
    assert.equal((await decide(`BEARER ${RHDP}`)).isAuthorized, true);
    for (const header of [
      RHDP,
      `Basic ${RHDP}`,
      `Bearer ${RHDP} extra`,
      `Bearer${RHDP}`,
      'Bearer ',
      `Bearer "${RHDP}"`,
    ]) {
      assert.deepEqual(await decide(header), { isAuthorized: false }, header);
    }
  });

  it('refuses a prefix, an extension and a case change of a real token', async () => {
    for (const token of [RHDP.slice(0, -1), RHDP.slice(0, 16), `${RHDP}0`, RHDP.toUpperCase()]) {
      assert.deepEqual(await decide(`Bearer ${token}`), { isAuthorized: false }, token);
    }
  });

  it('accepts the old and the new token during a rotation, and drops the old one once removed', async () => {
    h.secrets.replace(API_TOKENS_SECRET_ID, JSON.stringify({ rhdp: RHDP, 'rhdp-next': RHDP_NEXT }));
    clearCache();
    assert.deepEqual(await decide(`Bearer ${RHDP}`), {
      isAuthorized: true,
      context: { client: 'rhdp', scopes: EVERY_SCOPE },
    });
    assert.deepEqual(await decide(`Bearer ${RHDP_NEXT}`), {
      isAuthorized: true,
      context: { client: 'rhdp-next', scopes: EVERY_SCOPE },
    });

    h.secrets.replace(API_TOKENS_SECRET_ID, JSON.stringify({ 'rhdp-next': RHDP_NEXT }));
    await sleep(CACHE_MS * 3);

    assert.deepEqual(await decide(`Bearer ${RHDP}`), { isAuthorized: false });
    assert.equal((await decide(`Bearer ${RHDP_NEXT}`)).isAuthorized, true);
  });

  it('ignores unusable entries, naming their clients but never a value', async () => {
    h.secrets.replace(
      API_TOKENS_SECRET_ID,
      JSON.stringify({
        rhdp: RHDP,
        short: 'abc123',
        nested: { t: OPS },
        typo: { token: `${OPS}1`, scopes: ['provision', 'raed'] },
        bounded: { token: `${OPS}2`, scopes: ['read'], limits: { max_users: 0, colour: 'red' } },
        'event:rhdp.lab': `${OPS}3`,
      }),
    );
    const from = logLines.length;

    assert.equal((await decide(`Bearer ${RHDP}`)).isAuthorized, true);
    assert.deepEqual(await decide('Bearer abc123'), { isAuthorized: false });

    const warning = logEntries()
      .slice(from)
      .find((entry) => entry.message === 'API tokens secret has unusable entries; they grant nothing');
    assert.deepEqual(warning?.entries, [
      'short (token shorter than 16 characters or with spaces)',
      'nested (token, scopes, entry)',
      'typo (scopes.1)',
      'bounded (limits.max_users, limits)',
      `event:rhdp.lab (names beginning "event:" are the lab events')`,
    ]);
    assert.equal(warning?.usable, 1);
    for (const token of [`${OPS}1`, `${OPS}2`, `${OPS}3`])
      assert.deepEqual(await decide(`Bearer ${token}`), { isAuthorized: false });
    assert.deepEqual(linesLeaking([RHDP, 'abc123', OPS]).slice(0, 1), []);
  });

  it('passes a scoped client’s scopes and limits to the functions, a plain one’s every scope', async () => {
    const limits = { packages: ['ai-beginner'], models: false, max_budget: 5, max_users: 30 };
    h.secrets.replace(
      API_TOKENS_SECRET_ID,
      JSON.stringify({
        rhdp: RHDP,
        portal: { token: OPS, scopes: ['read', 'provision', 'read'], limits },
        auditor: { token: RHDP_NEXT, scopes: [] },
      }),
    );
    assert.deepEqual(await decide(`Bearer ${RHDP}`), {
      isAuthorized: true,
      context: { client: 'rhdp', scopes: EVERY_SCOPE },
    });
    assert.deepEqual(await decide(`Bearer ${OPS}`), {
      isAuthorized: true,
      context: { client: 'portal', scopes: 'read provision', limits: JSON.stringify(limits) },
    });
    // Known but granted nothing: authenticated, and every route then says which scope is missing.
    assert.deepEqual(await decide(`Bearer ${RHDP_NEXT}`), {
      isAuthorized: true,
      context: { client: 'auditor', scopes: '' },
    });
  });

  it('denies everything when the secret is not a JSON object', async () => {
    h.secrets.replace(API_TOKENS_SECRET_ID, RHDP);
    assert.deepEqual(await decide(`Bearer ${RHDP}`), { isAuthorized: false });
  });

  it('fails (API Gateway answers 500) when the tokens cannot be read, and logs why', async () => {
    h.secrets.failNext('GetSecretValue', 5, 500);
    const from = logLines.length;
    await assert.rejects(decide(`Bearer ${RHDP}`));
    const failure = logEntries()
      .slice(from)
      .find((entry) => entry.message === 'authorizer failed');
    assert.equal(failure?.level, 'error');
    assert.equal(failure?.function, 'authorizer');
  });

  it('logs each denial with its reason, and never a token', async () => {
    const from = logLines.length;
    await decide();
    await decide('Bearer wrong-token-0000000000000');
    const denials = logEntries()
      .slice(from)
      .filter((entry) => entry.message === 'denied');
    assert.deepEqual(
      denials.map((entry) => [entry.reason, entry.route, entry.source_ip]),
      [
        ['no bearer token', 'POST /keys', '192.0.2.10'],
        ['unknown token', 'POST /keys', '192.0.2.10'],
      ],
    );
    assert.deepEqual(linesLeaking([RHDP, RHDP_NEXT, OPS, 'wrong-token-0000000000000', 'abc123']), []);
  });
});
