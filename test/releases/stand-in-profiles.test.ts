import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RELEASE_NAMES, RELEASES, type ReleaseName } from '../support/stand-ins/litellm/releases.ts';
import { LiteLlmStandIn, realListCost } from '../support/stand-ins/litellm/server.ts';

/**
 * What each release profile of the stand-in answers where LiteLLM changed between v1.81 and
 * v1.105. Each case names the change it models; the release notes of the version it names list it.
 */
const MASTER = 'sk-master-profiles-0000';
let s: LiteLlmStandIn;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
type Body = Record<string, unknown> & { error?: Record<string, unknown>; info?: Record<string, unknown> };

async function call(method: string, path: string, body?: unknown, key = MASTER) {
  const response = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Body };
}

const aliasesOf = (body: Body) => (body.keys as { key_alias: string }[]).map((k) => k.key_alias).sort();

before(async () => {
  s = await LiteLlmStandIn.start({ masterKey: MASTER });
});
beforeEach(() => s.reset());
after(() => s.close());

/** Run `check` on every profile, or on those `only` names. */
function eachRelease(title: string, check: (release: ReleaseName) => Promise<void>, only = RELEASE_NAMES) {
  for (const release of only) {
    it(`${release}: ${title}`, async () => {
      s.useRelease(release);
      await check(release);
    });
  }
}

const readiness = async () => (await (await fetch(`${s.url}/health/readiness`)).json()) as Body;

describe('every profile', () => {
  eachRelease(
    'reports its litellm_version: on /health/readiness on 1.81, only on the details route since PR #26912',
    async (release) => {
      const open = await readiness();
      const anonymous = await fetch(`${s.url}/health/readiness/details`);
      const details = await call('GET', '/health/readiness/details');

      const version = RELEASES[release].version;
      if (release === '1.81') assert.equal(open.litellm_version, version);
      else assert.deepEqual(open, { status: 'healthy', db: 'connected' });
      assert.equal(anonymous.status, 401);
      assert.equal(details.body.litellm_version, version);
    },
  );

  eachRelease('a master key it does not know is refused in auth: 401 token_not_found_in_db', async () => {
    const answer = await call('GET', '/key/list', undefined, 'sk-some-rotated-master-key');

    assert.equal(answer.status, 401);
    assert.equal(answer.body.error?.type, 'token_not_found_in_db');
    assert.equal(answer.body.error?.param, 'key');
  });
});

describe('readiness details as an operator set them, whatever the release', () => {
  eachRelease(
    'readinessDetails overrides where the version is shown',
    async (release) => {
      s.settings.readinessDetails = 'details-route';
      const hidden = await readiness();
      s.settings.readinessDetails = 'public';
      const shown = await readiness();

      assert.deepEqual(hidden, { status: 'healthy', db: 'connected' });
      assert.equal(shown.litellm_version, RELEASES[release].version);
    },
    ['1.81', '1.105'],
  );
});

describe('/key/update of an unknown key (PR #24063, v1.82.6)', () => {
  eachRelease('401 before, 404 since', async (release) => {
    const answer = await call('POST', '/key/update', { key: 'sk-never-made', duration: '1d' });

    if (release === '1.81') {
      assert.equal(answer.status, 401);
      assert.match(String(answer.body.error?.message), /user key does not exist in db/);
    } else {
      assert.equal(answer.status, 404);
      assert.equal(answer.body.error?.message, "{'error': 'Key not found: sk-never-made'}");
    }
    assert.equal(answer.body.error?.type, 'auth_error');
  });
});

describe('/key/list alias and user filters (PR #24746, v1.83.3; PR #30593, v1.90.0)', () => {
  async function neighbours() {
    for (const alias of ['virtkey-abc', 'virtkey-abc1', 'virtkey-ABC-x', 'team-virtkey-abc', 'virtkey-ab']) {
      await s.seedKey({ alias, expires: null, userId: `${alias}@example.com` });
    }
  }

  eachRelease('match exactly, or as a case-insensitive substring on 1.83.3 to 1.89.x', async (release) => {
    await neighbours();

    const plain = await call('GET', '/key/list?key_alias=virtkey-abc&return_full_object=true&size=100');
    const optedOut = await call(
      'GET',
      '/key/list?key_alias=virtkey-abc&substring_matching=false&return_full_object=true&size=100',
    );
    const byUser = await call('GET', '/key/list?user_id=virtkey-abc@example.com&return_full_object=true');

    const substring = ['team-virtkey-abc', 'virtkey-ABC-x', 'virtkey-abc', 'virtkey-abc1'].sort();
    const expected = release === '1.85' ? substring : ['virtkey-abc'];
    assert.deepEqual(aliasesOf(plain.body), expected);
    assert.deepEqual(aliasesOf(optedOut.body), expected, 'substring_matching=false is unknown before v1.90');
    assert.equal(byUser.body.total_count, release === '1.85' ? 2 : 1);
  });

  eachRelease(
    'substring_matching=true asks for the substring match',
    async () => {
      await neighbours();

      const asked = await call(
        'GET',
        '/key/list?key_alias=virtkey-abc&substring_matching=true&return_full_object=true',
      );

      assert.equal(asked.body.total_count, 4);
    },
    RELEASE_NAMES.filter((name) => RELEASES[name].aliasMatching === 'exact-unless-asked'),
  );
});

describe('/key/list?expires= (PR #32953, v1.93.0)', () => {
  eachRelease('filters from v1.93 on; ignored before', async (release) => {
    await s.seedKey({ alias: 'old', expires: new Date(Date.now() - 60_000) });
    await s.seedKey({ alias: 'new', expires: new Date(Date.now() + 60_000) });
    await s.seedKey({ alias: 'forever', expires: null });

    const expired = await call('GET', '/key/list?expires=expired&return_full_object=true');
    const active = await call('GET', '/key/list?expires=active&return_full_object=true');
    const bad = await call('GET', '/key/list?expires=soon');

    if (RELEASES[release].expiresFilter) {
      assert.deepEqual(aliasesOf(expired.body), ['old']);
      assert.deepEqual(aliasesOf(active.body), ['forever', 'new']);
      assert.equal(bad.status, 400);
    } else {
      assert.deepEqual(aliasesOf(expired.body), ['forever', 'new', 'old']);
      assert.deepEqual(aliasesOf(active.body), ['forever', 'new', 'old']);
      assert.equal(bad.status, 200);
    }
  });
});

describe('deleted keys (PR #19260; PR #41311 and e2e PR #41551, v1.103.0)', () => {
  eachRelease('/key/info of a deleted key: 404, or 200 with status deleted since v1.103', async (release) => {
    await s.seedKey({ raw: 'sk-gone', alias: 'gone', expires: null });
    await call('POST', '/key/delete', { keys: ['sk-gone'] });

    const info = await call('GET', `/key/info?key=${sha256('sk-gone')}`);

    if (RELEASES[release].servesDeletedKeys) {
      assert.equal(info.status, 200);
      assert.equal(info.body.info?.status, 'deleted');
      assert.equal(info.body.info?.key_alias, 'gone');
      assert.ok(info.body.info?.deleted_at, 'deleted_at');
    } else {
      assert.equal(info.status, 404);
      assert.equal(info.body.error?.type, 'not_found_error');
    }
  });

  eachRelease(
    '/key/list?status=: only deleted before v1.103; active, expired, revoked, deleted since',
    async (release) => {
      await s.seedKey({ raw: 'sk-live', alias: 'live', expires: null });
      await s.seedKey({ raw: 'sk-old', alias: 'old', expires: new Date(Date.now() - 60_000) });
      await s.seedKey({ raw: 'sk-blk', alias: 'blk', expires: null });
      await call('POST', '/key/block', { key: 'sk-blk' });
      await s.seedKey({ raw: 'sk-del', alias: 'del', expires: null });
      await call('POST', '/key/delete', { keys: ['sk-del'] });

      const deleted = await call('GET', '/key/list?status=deleted&return_full_object=true');
      const listing = await call('GET', '/key/list?return_full_object=true');
      const expired = await call('GET', '/key/list?status=expired&return_full_object=true');

      assert.deepEqual(aliasesOf(deleted.body), ['del']);
      assert.ok((deleted.body.keys as { deleted_at?: string }[])[0]?.deleted_at);
      assert.deepEqual(aliasesOf(listing.body), ['blk', 'live', 'old'], 'no deleted key without the filter');
      if (RELEASES[release].statusValues.length > 1) {
        assert.deepEqual(aliasesOf(expired.body), ['old']);
        const active = await call('GET', '/key/list?status=active&return_full_object=true');
        const revoked = await call('GET', '/key/list?status=revoked&return_full_object=true');
        assert.deepEqual(aliasesOf(active.body), ['live']);
        assert.deepEqual(aliasesOf(revoked.body), ['blk']);
      } else {
        assert.equal(expired.status, 400);
        assert.equal(
          expired.body.error?.message,
          "Invalid status value. Currently only 'deleted' is supported.",
        );
      }
    },
  );

  eachRelease('total_spend on keys since v1.103 (PR #41403)', async (release) => {
    await s.seedKey({ raw: 'sk-spent', alias: 'spent', expires: null });
    await s.table.update(sha256('sk-spent'), { spend: 2.5, total_spend: 7.5 });

    const info = await call('GET', '/key/info?key=sk-spent');

    assert.equal(info.body.info?.spend, 2.5);
    assert.equal(info.body.info?.total_spend, RELEASES[release].totalSpend ? 7.5 : undefined);
  });
});

describe('an over-budget key on an LLM route (PR #31300, v1.93.0; PR #42097, v1.104.0)', () => {
  eachRelease('400 before v1.93, 429 since, 422 from v1.104; type budget_exceeded', async (release) => {
    await s.seedKey({ raw: 'sk-spender', alias: 'spender', expires: null });
    await s.table.update(sha256('sk-spender'), { max_budget: 1, spend: 1.5 });

    const answer = await call('GET', '/v1/models', undefined, 'sk-spender');

    const status = { '1.81': 400, '1.85': 400, '1.93': 429, '1.103': 429, '1.104': 422, '1.105': 422 }[
      release
    ];
    const message =
      status === 400
        ? 'ExceededTokenBudget: Current spend for token: 1.5; Max Budget for Token: 1'
        : 'Budget has been exceeded! Current cost: 1.5, Max budget: 1. Key=sk-...nder';
    assert.deepEqual(answer, {
      status,
      body: { error: { message, type: 'budget_exceeded', param: null, code: String(status) } },
    });
  });
});

describe('caller-chosen key values refused by the operator', () => {
  eachRelease('disable_custom_api_keys (PR #23812, v1.82.6): 403, nothing written', async (release) => {
    s.settings.disableCustomApiKeys = true;

    const custom = await call('POST', '/key/generate', { key: 'sk-pinned-1', key_alias: 'p1' });
    const generated = await call('POST', '/key/generate', { key_alias: 'p2' });

    if (release === '1.81') {
      assert.equal(custom.status, 200, 'the setting does not exist before v1.82.6');
    } else {
      assert.equal(custom.status, 403);
      assert.equal(
        custom.body.error?.message,
        "{'error': 'Custom API key values are disabled by your administrator. Keys must be auto-generated.'}",
      );
      assert.equal(await s.table.get(sha256('sk-pinned-1')), undefined);
    }
    assert.equal(generated.status, 200);
  });

  eachRelease('custom_key_policy (PR #40921, v1.103.0): a 403 with the policy’s message', async (release) => {
    s.settings.customKeyPolicy = (operation, request) =>
      operation === 'generate' && request.key !== undefined
        ? { decision: false, message: 'keys are generated by the proxy here' }
        : { decision: true };

    const custom = await call('POST', '/key/generate', { key: 'sk-pinned-2', key_alias: 'p3' });

    if (RELEASES[release].customKeyPolicy) {
      assert.equal(custom.status, 403);
      assert.equal(custom.body.error?.message, 'keys are generated by the proxy here');
      assert.equal(await s.table.count(), 0);
    } else {
      assert.equal(custom.status, 200, 'no such hook before v1.103');
    }
  });
});

describe('route restrictions on virtual keys (handle_key_type; RouteChecks; BerriAI/litellm#37810)', () => {
  const OWNER = 'owner@example.com';
  const routeRefusal = (allowed: string, route: string) => ({
    detail: `Virtual key is not allowed to call this route. Only allowed to call routes: ${allowed}. Tried to call route: ${route}`,
  });
  async function keyOf(body: Record<string, unknown>) {
    const made = await call('POST', '/key/generate', { user_id: OWNER, ...body });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    return String(made.body.key);
  }
  const routesOf = async (key: string) =>
    (await call('GET', `/key/info?key=${key}`)).body.info?.allowed_routes;

  eachRelease('key_type sets allowed_routes, overriding any sent; default keeps them', async () => {
    const sent = { allowed_routes: ['/key/generate'] };

    const llm = await keyOf({ key_type: 'llm_api', ...sent });
    const management = await keyOf({ key_type: 'management', ...sent });
    const readOnly = await keyOf({ key_type: 'read_only', ...sent });
    const plain = await keyOf({ key_type: 'default', ...sent });
    const unknown = await call('POST', '/key/generate', { key_type: 'admin' });

    assert.deepEqual(await routesOf(llm), ['llm_api_routes']);
    assert.deepEqual(await routesOf(management), ['management_routes']);
    assert.deepEqual(await routesOf(readOnly), ['info_routes']);
    assert.deepEqual(await routesOf(plain), ['/key/generate']);
    assert.equal(unknown.status, 422);
  });

  eachRelease(
    'an llm_api key calls /v1/models; /key/generate is a 403, even for a proxy_admin owner',
    async () => {
      const key = await keyOf({ key_type: 'llm_api' });
      await s.setUserRole(OWNER, 'proxy_admin');

      const models = await call('GET', '/v1/models', undefined, key);
      const generate = await call('POST', '/key/generate', { key_alias: 'escalated' }, key);
      const list = await call('GET', '/key/list', undefined, key);

      assert.equal(models.status, 200);
      assert.equal(generate.status, 403);
      assert.deepEqual(generate.body, routeRefusal("['llm_api_routes']", '/key/generate'));
      assert.deepEqual(list.body, routeRefusal("['llm_api_routes']", '/key/list'));
      assert.equal(await s.table.firstTokenWithAlias('escalated'), undefined);
    },
  );

  eachRelease(
    'a key without allowed_routes whose owner is proxy_admin manages keys (the attack)',
    async () => {
      const key = await keyOf({});

      const before = await call('POST', '/key/generate', { key_alias: 'minted-before' }, key);
      await s.setUserRole(OWNER, 'proxy_admin');
      const after = await call('POST', '/key/generate', { key_alias: 'minted' }, key);
      const list = await call('GET', '/key/list', undefined, key);

      assert.equal(before.status, 401, 'an ordinary owner may not');
      assert.equal(after.status, 200);
      assert.equal(list.status, 200);
      assert.ok(await s.table.firstTokenWithAlias('minted'));
    },
  );

  eachRelease('default_user_id, the UI login’s admin, is a proxy_admin', async () => {
    const key = await keyOf({ user_id: 'default_user_id' });

    const list = await call('GET', '/key/list', undefined, key);

    assert.equal(list.status, 200);
  });

  eachRelease('/model/info for an llm_api key: 403 before PR #35473, 200 since', async (release) => {
    const key = await keyOf({ key_type: 'llm_api' });

    const info = await call('GET', '/model/info', undefined, key);
    const v1 = await call('GET', '/v1/model/info', undefined, key);

    if (RELEASES[release].modelInfoIsLlmApiRoute) {
      assert.equal(info.status, 200);
      assert.equal(v1.status, 200);
    } else {
      assert.deepEqual(info.body, routeRefusal("['llm_api_routes']", '/model/info'));
      assert.deepEqual(v1.body, routeRefusal("['llm_api_routes']", '/v1/model/info'));
    }
  });

  eachRelease('/key/update sets allowed_routes', async () => {
    const key = await keyOf({});

    await call('POST', '/key/update', { key, allowed_routes: ['info_routes'] });

    assert.deepEqual(await routesOf(key), ['info_routes']);
    assert.equal((await call('GET', '/v1/models', undefined, key)).status, 200);
    assert.equal((await call('POST', '/key/delete', { keys: [key] }, key)).status, 403);
  });
});

describe('LiteLLM’s real /key/list cost (BerriAI/litellm#19477, PR #22537)', () => {
  it('answers a page at offset 380,000 in about a second, and the first page at once', async () => {
    s.listCost = realListCost();

    const timed = async (page: number) => {
      const started = performance.now();
      const answer = await call('GET', `/key/list?page=${page}&size=100`);
      assert.equal(answer.status, 200);
      return performance.now() - started;
    };
    const first = await timed(1);
    const deep = await timed(3801);

    assert.ok(first < 200, `first page ${first.toFixed(0)} ms`);
    assert.ok(deep > 950 && deep < 1500, `page at offset 380,000: ${deep.toFixed(0)} ms`);
  });

  it('answers the first page of an alias lookup later the larger the table: its count reads every row', async () => {
    const firstPageOfLookup = async (tableRows: number) => {
      await s.reset();
      s.useRelease('1.105');
      await s.table.insertMany(
        Array.from({ length: tableRows }, (_, i) => ({
          token: sha256(`other-${i}`),
          key_name: 'sk-...xxxx',
          key_alias: `team-key-${i}`,
          expires: null,
          models: [],
          metadata: {},
          user_id: null,
          max_budget: null,
          created_by: 'default_user_id',
        })),
      );
      s.listCost = { baseMs: 0, perOffsetRowMs: 0, perTableRowMs: 1 };
      const started = performance.now();
      const answer = await call(
        'GET',
        '/key/list?key_alias=team-key-7&return_full_object=true&page=1&size=1',
      );
      assert.deepEqual(aliasesOf(answer.body), ['team-key-7']);
      return performance.now() - started;
    };
    const small = await firstPageOfLookup(10);
    const large = await firstPageOfLookup(400);

    assert.ok(large - small > 350, `10 rows ${small.toFixed(0)} ms, 400 rows ${large.toFixed(0)} ms`);
  });
});

const newest = (release: ReleaseName) => release === '1.104' || release === '1.105';

describe('a weak master key (PR #42019, v1.104.0)', () => {
  it('1.104 and 1.105 refuse to start on an empty or the public default master key', async () => {
    for (const release of ['1.104', '1.105'] as const) {
      for (const masterKey of ['', 'sk-1234']) {
        await assert.rejects(LiteLlmStandIn.start({ masterKey, release }), /refuses to start/);
      }
    }
  });

  eachRelease(
    'older releases run on it; moving such a proxy to 1.104 or rotating to it there fails',
    async (release) => {
      if (newest(release)) {
        assert.throws(() => s.rotateMasterKey('sk-1234'), /refuses to start/);
        assert.equal(s.release.name, release);
        return;
      }
      s.rotateMasterKey('sk-1234');
      try {
        const listed = await call('GET', '/key/list', undefined, 'sk-1234');

        assert.equal(listed.status, 200);
        assert.throws(() => s.useRelease('1.104'), /refuses to start/);
        assert.equal(s.release.name, release);
      } finally {
        s.rotateMasterKey(MASTER);
      }
    },
  );
});

describe('the database out of reach', () => {
  eachRelease('virtual keys, management calls and readiness as the release answers', async (release) => {
    await s.seedKey({ raw: 'sk-db-outage', alias: 'outage', expires: null });
    s.settings.databaseDown = true;

    const models = await call('GET', '/v1/models', undefined, 'sk-db-outage');
    const list = await call('GET', '/key/list');
    const masterModels = await call('GET', '/v1/models');
    const open = await fetch(`${s.url}/health/readiness`);
    const details = await call('GET', '/health/readiness/details');

    assert.equal(masterModels.status, 200, 'the master key needs no database');
    if (newest(release)) {
      const unavailable = {
        status: 503,
        body: {
          error: {
            message:
              'Service Unavailable, the authentication database is temporarily unreachable. Please retry shortly.',
            type: 'no_db_connection',
            param: 'None',
            code: '503',
          },
        },
      };
      assert.deepEqual(models, unavailable);
      assert.deepEqual(list, unavailable);
      assert.equal(open.status, 200);
      assert.deepEqual(await open.json(), { status: 'disconnected', db: 'connected' });
      assert.equal(details.body.status, 'disconnected');
      assert.equal(details.body.litellm_version, RELEASES[release].version);
    } else {
      assert.deepEqual(models.body.error, {
        message: 'Authentication Error, All connection attempts failed',
        type: 'auth_error',
        param: 'None',
        code: '401',
      });
      assert.equal(list.status, 500);
      assert.equal(list.body.error?.type, 'internal_server_error');
      assert.equal(open.status, 503);
      assert.deepEqual(await open.json(), { detail: 'Service Unhealthy (All connection attempts failed)' });
      assert.equal(details.status, 503);
    }
  });
});

describe('disable_custom_api_keys in config.yaml and the Admin UI (PR #42437, v1.104.0)', () => {
  const setInUi = (value: boolean) =>
    call('POST', '/config/field/update', {
      field_name: 'disable_custom_api_keys',
      field_value: value,
      config_type: 'general_settings',
    });
  const refusal = {
    status: 403,
    body: {
      error: {
        message:
          "{'error': 'Custom API key values are disabled by your administrator. Keys must be auto-generated.'}",
        type: 'internal_server_error',
        param: 'None',
        code: '403',
      },
    },
  };

  eachRelease('config.yaml’s value is enforced from v1.104 only', async (release) => {
    s.settings.configDisableCustomApiKeys = true;

    const custom = await call('POST', '/key/generate', { key: 'sk-pinned-config', key_alias: 'c1' });

    if (newest(release)) assert.deepEqual(custom, refusal);
    else assert.equal(custom.status, 200, 'never enforced before v1.104');
  });

  eachRelease('a UI change of a value config.yaml declares: 400 from v1.103', async (release) => {
    s.settings.configDisableCustomApiKeys = false;

    const changed = await setInUi(true);

    if (RELEASES[release].configWins) {
      assert.equal(changed.status, 400);
      assert.equal(changed.body.error?.type, 'bad_request_error');
      assert.equal(s.settings.disableCustomApiKeys, false);
    } else {
      assert.equal(changed.status, 200);
      assert.equal(s.settings.disableCustomApiKeys, true);
    }
  });

  eachRelease('a UI change reaches the other workers only after a delay before v1.104', async (release) => {
    s.settings.uiSettingDelayMs = 60_000;

    const changed = await setInUi(true);
    const custom = await call('POST', '/key/generate', { key: 'sk-pinned-ui', key_alias: 'u1' });

    assert.equal(changed.status, 200);
    assert.equal(s.settings.disableCustomApiKeys, true, 'the UI shows the new value at once');
    if (newest(release)) assert.deepEqual(custom, refusal);
    else assert.equal(custom.status, 200, release === '1.81' ? 'no such setting' : 'a stale worker answers');
  });

  eachRelease('without a delay the UI change binds at once where the setting exists', async (release) => {
    await setInUi(true);

    const custom = await call('POST', '/key/generate', { key: 'sk-pinned-now', key_alias: 'n1' });

    if (RELEASES[release].customKeySwitch) assert.deepEqual(custom, refusal);
    else assert.equal(custom.status, 200);
  });
});

describe('models not discoverable (PR #42825, v1.104.0)', () => {
  eachRelease(
    'left out of /v1/models for every caller from v1.104; /model/info keeps them',
    async (release) => {
      s.settings.undiscoverableModels = ['mistral-7b-instruct'];
      const made = await call('POST', '/key/generate', {
        models: ['mistral-7b-instruct', 'granite-3-2-8b-instruct'],
      });
      const key = String(made.body.key);

      const ids = async (path: string, as: string) =>
        ((await call('GET', path, undefined, as)).body.data as { id: string }[]).map((m) => m.id);
      const master = await ids('/v1/models', MASTER);
      const plain = await ids('/models', MASTER);
      const own = await ids('/v1/models', key);
      const info = (await call('GET', '/model/info')).body.data as { model_name: string }[];

      const all = ['granite-3-2-8b-instruct', 'mistral-7b-instruct', 'llama-scout-17b'];
      const shown = newest(release) ? ['granite-3-2-8b-instruct', 'llama-scout-17b'] : all;
      assert.deepEqual(master, shown);
      assert.deepEqual(plain, shown);
      assert.deepEqual(
        own,
        newest(release) ? ['granite-3-2-8b-instruct'] : ['mistral-7b-instruct', 'granite-3-2-8b-instruct'],
      );
      assert.deepEqual(
        info.map((m) => m.model_name),
        all,
      );
    },
  );
});

describe('key_alias format (PR #23027; key_alias_pattern, PR #42553, v1.104.0)', () => {
  const fixedRefusal = {
    status: 400,
    body: {
      error: {
        message:
          'Invalid key_alias format. Must be 2-255 characters, start/end with alphanumeric, and only contain a-zA-Z0-9_-/.@.',
        type: 'bad_request_error',
        param: 'key_alias',
        code: '400',
      },
    },
  };

  eachRelease(
    'enable_key_alias_format_validation: the fixed rule, before the duplicate check',
    async (release) => {
      s.settings.keyAliasFormatValidation = true;
      await s.seedKey({ alias: 'lab one', expires: null });

      const bad = await call('POST', '/key/generate', { key_alias: 'lab one' });
      const single = await call('POST', '/key/generate', { key_alias: 'x' });
      const good = await call('POST', '/key/generate', { key_alias: 'virtkey-lab.1@rhdp' });

      if (RELEASES[release].aliasFormatCheck === 'none') {
        assert.equal(bad.status, 400);
        assert.match(String(bad.body.error?.message), /already exists/);
        assert.equal(single.status, 200);
      } else {
        assert.deepEqual(bad, fixedRefusal);
        assert.deepEqual(single, fixedRefusal);
      }
      assert.equal(good.status, 200);
    },
  );

  eachRelease('key_alias_pattern on generate and on update of the alias, from v1.104', async (release) => {
    s.settings.keyAliasPattern = '[a-z0-9]+(-[a-z0-9]+)*';
    await s.seedKey({ raw: 'sk-named-before', alias: 'Named Before', expires: null });

    const bad = await call('POST', '/key/generate', { key_alias: 'Prod-Key' });
    const good = await call('POST', '/key/generate', { key_alias: 'prod-key' });
    const unchanged = await call('POST', '/key/update', {
      key: 'sk-named-before',
      key_alias: 'Named Before',
    });
    const renamed = await call('POST', '/key/update', { key: 'sk-named-before', key_alias: 'Renamed Key' });

    assert.equal(good.status, 200);
    assert.equal(unchanged.status, 200, 'an alias left as it is is not checked');
    if (newest(release)) {
      const refusal = {
        status: 400,
        body: {
          error: {
            message:
              'Invalid key_alias format. Must be at most 255 characters and match the configured key_alias_pattern: [a-z0-9]+(-[a-z0-9]+)*',
            type: 'bad_request_error',
            param: 'key_alias',
            code: '400',
          },
        },
      };
      assert.deepEqual(bad, refusal);
      assert.deepEqual(renamed, refusal);
      assert.equal((await s.table.get(sha256('sk-named-before')))?.key_alias, 'Named Before');
    } else {
      assert.equal(bad.status, 200, 'no such setting before v1.104');
      assert.equal(renamed.status, 200);
    }
  });
});

describe('lifetime spend across an upgrade (PR #41403, v1.103.0; backfill script PR #42967, v1.104.0)', () => {
  eachRelease('spend grows on every release, total_spend only where it exists', async (release) => {
    await s.seedKey({ raw: 'sk-spending', alias: 'spending', expires: null });

    await s.recordSpend('sk-spending', 1.25);
    const info = await call('GET', '/key/info?key=sk-spending');

    assert.equal(info.body.info?.spend, 1.25);
    assert.equal(info.body.info?.total_spend, RELEASES[release].totalSpend ? 1.25 : undefined);
  });

  it('a key that spent on 1.93 shows less lifetime than current spend on 1.104 until the backfill', async () => {
    s.useRelease('1.93');
    await s.seedKey({ raw: 'sk-old-spender', alias: 'old-spender', expires: null });
    await s.recordSpend('sk-old-spender', 2);
    s.useRelease('1.104');
    await s.recordSpend('sk-old-spender', 0.5);

    const before = await call('GET', '/key/info?key=sk-old-spender');
    await s.backfillTotalSpend();
    const after = await call('GET', '/key/info?key=sk-old-spender');

    assert.equal(before.body.info?.spend, 2.5);
    assert.equal(before.body.info?.total_spend, 0.5);
    assert.equal(after.body.info?.total_spend, 2.5);
  });
});
