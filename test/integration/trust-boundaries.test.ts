/**
 * What an attacker holding one valid API token tries, and what the service answers: admin-owned
 * keys, other clients' labs, scopes and limits, oversized and field-heavy bodies, an upstream that
 * reflects our headers, plaintext database connections. LiteLLM is reached through a proxy that
 * can be told to echo the request's headers, as a misconfigured ingress would.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SCOPES } from '../../lib/auth/client-grants.ts';
import { Deadline } from '../../lib/deadline.ts';
import { labFromItem, labToItem } from '../../lib/ledger/lab-record.ts';
import { deleteKeysFromDatabase } from '../../lib/litellm-db/direct-delete.ts';
import { linesLeaking, logEntries, logLines } from '../support/checks/logs.ts';
import {
  asClient,
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  labProvisionedEvent,
  lambdaContext,
  listKeysEvent,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { type HttpAnswer, invokeHttp, probeKey } from '../support/fixtures/http.ts';
import {
  closeAndCheck,
  type Handler,
  type Harness,
  importRouteHandlers,
  MASTER_KEY,
  startHarness,
} from '../support/harness.ts';

const PROBLEM = 'urn:litellm-virtual-keys:problem:';

/** Forwards everything to LiteLLM, unless told to answer one route with the request's headers echoed. */
class EchoingProxy {
  target = '';
  echo: string | undefined;
  private readonly server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === this.echo) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ detail: `Not Found: ${path}. Request headers: ${JSON.stringify(req.headers)}` }),
      );
      return;
    }
    const upstream = new URL(req.url ?? '/', this.target);
    const forward = request(upstream, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const proxy = new EchoingProxy();
let h: Harness;
let handlers: Record<'provision' | 'destroy' | 'status' | 'extend', Handler>;
const issued: string[] = [];

before(async () => {
  const url = await proxy.start();
  h = await startHarness({
    LITELLM_URL: url,
    LITELLM_ADMIN_USER_IDS: 'ops-admin',
  });
  proxy.target = h.litellm.url;
  handlers = await importRouteHandlers();
});
beforeEach(() => {
  proxy.echo = undefined;
  return h.reset();
});
after(async () => {
  await proxy.close();
  await closeAndCheck(h, issued);
});

/** Every answer, whatever it says, must not be cached by anything between us and the caller. */
async function call(handler: Handler, event: APIGatewayProxyEventV2): Promise<HttpAnswer> {
  const answer = await invokeHttp(handler, event, lambdaContext());
  assert.equal(answer.headers['cache-control'], 'no-store', `${answer.status} without no-store`);
  for (const value of Object.values(answer.body))
    if (typeof value === 'string' && value.startsWith('sk-')) issued.push(value);
  return answer;
}

/** Changes to LiteLLM, and key values sealed for the ledger. */
const writes = () => h.litellm.mutatingCalls() + h.kms.callCount('Encrypt');

const EVERY = [...SCOPES];
const OWN_LABS = EVERY.filter((scope) => scope !== 'all-labs');

function problem(problemName: string, title: string, status: number, detail: string, errors: unknown[] = []) {
  return { type: `${PROBLEM}${problemName}`, title, status, detail, errors };
}

describe('keys that stay lab keys', () => {
  it('refuses LiteLLM’s own and admin user ids, and addresses outside the allowed domains, creating nothing', async () => {
    const cases = [
      [
        'default_user_id',
        'is a user id LiteLLM gives admin or internal powers; a lab key may not be owned by it',
      ],
      [
        'Default_User_ID',
        'is a user id LiteLLM gives admin or internal powers; a lab key may not be owned by it',
      ],
      [
        'litellm-dashboard',
        'is a user id LiteLLM gives admin or internal powers; a lab key may not be owned by it',
      ],
      ['ops-admin', 'is a user id LiteLLM gives admin or internal powers; a lab key may not be owned by it'],
      ['someone@evil.example', 'must be an address in lab.opentlc.com, opentlc.com, redhat.com'],
      ['student', 'must be an e-mail address'],
    ];
    for (const [userId, message] of cases) {
      const answer = await call(handlers.provision, postKeysEvent({ guid: 'evil1', user_id: userId }));
      assert.deepEqual(
        answer.body,
        problem('invalid-request', 'Invalid request', 400, `user_id ${message}`, [
          { field: 'user_id', message },
        ]),
        userId,
      );
    }
    assert.equal(writes(), 0);
    assert.equal(await h.litellm.table.count(), 0);
  });

  it('records the creating client in the key’s metadata and the ledger', async () => {
    const answer = await call(
      handlers.provision,
      asClient(postKeysEvent({ guid: 'tb-meta' }), 'portal', OWN_LABS),
    );
    assert.equal(answer.status, 201);
    const [row] = await h.litellm.table.db.query<{ metadata: Record<string, string> }>(
      `SELECT metadata FROM "LiteLLM_VerificationToken" WHERE key_alias = 'virtkey-tb-meta'`,
    );
    assert.equal(row?.metadata.api_client, 'portal');
    assert.equal((await h.ledger.lab('tb-meta')).lab?.client, 'portal');
  });

  it('refuses LiteLLM’s reserved metadata names and ours in any case', async () => {
    const answer = await call(
      handlers.provision,
      postKeysEvent({ guid: 'tb-md', metadata: { Managed_By: 'x', TAGS: 'x', logging: 'x', team: 'ok' } }),
    );
    assert.equal(answer.status, 400);
    assert.deepEqual(
      (answer.body.errors as { field: string }[]).map((e) => e.field),
      ['metadata.Managed_By', 'metadata.TAGS', 'metadata.logging'],
    );
    assert.equal(writes(), 0);
  });
});

describe('tenancy', () => {
  const portal = <T extends APIGatewayProxyEventV2>(event: T) => asClient(event, 'portal', OWN_LABS);
  const ops = <T extends APIGatewayProxyEventV2>(event: T) => asClient(event, 'ops', EVERY);

  /** The lab item without what merely taking and giving back its lease changes. */
  const labState = async (guid: string) => {
    const { lab } = await h.ledger.lab(guid);
    const { version: _version, lease: _lease, ...rest } = lab ?? {};
    return rest;
  };

  it('hides another client’s lab behind the same 404 as a lab that does not exist, and changes nothing', async () => {
    const theirs = await call(handlers.provision, ops(postKeysEvent({ guid: 'tb-ops' })));
    assert.equal(theirs.status, 201);
    const before = writes();
    const labBefore = await labState('tb-ops');
    const keyBefore = await call(handlers.status, ops(getKeysEvent('tb-ops')));

    const attempts = [
      () => call(handlers.status, portal(getKeysEvent('tb-ops'))),
      () => call(handlers.extend, portal(extendKeysEvent('tb-ops', { duration: '90d' }))),
      () => call(handlers.destroy, portal(deleteKeysEvent('tb-ops'))),
    ];
    for (const attempt of attempts) {
      const answer = await attempt();
      assert.deepEqual(answer.body, problem('lab-not-found', 'Lab not found', 404, 'lab tb-ops has no key'));
    }
    const unknown = await call(handlers.status, portal(getKeysEvent('tb-none')));
    assert.deepEqual(unknown.body, problem('lab-not-found', 'Lab not found', 404, 'lab tb-none has no key'));

    assert.equal(writes(), before);
    assert.deepEqual(await labState('tb-ops'), labBefore);
    assert.deepEqual(await call(handlers.status, ops(getKeysEvent('tb-ops'))), keyBefore);
  });

  it('refuses a guid another client holds (guid squatting): 409 guid-taken, no key handed out, the owner’s key untouched', async () => {
    const clientA = <T extends APIGatewayProxyEventV2>(event: T) => asClient(event, 'client-a', OWN_LABS);
    const settings = { guid: 'rhdp42', package: 'ai-developer', duration: '7d' };
    const owned = await call(handlers.provision, clientA(postKeysEvent(settings)));
    assert.equal(owned.status, 201);
    const ownerKey = String(owned.body.litellm_virtual_key);
    const labBefore = await labState('rhdp42');
    const before = writes();
    const decryptsBefore = h.kms.callCount('Decrypt');

    // Without all-labs, and with it: a lab is its creator's whatever scopes another client has.
    for (const scopes of [OWN_LABS, EVERY]) {
      const squatter = await call(handlers.provision, asClient(postKeysEvent(settings), 'client-b', scopes));
      assert.deepEqual(
        squatter.body,
        problem(
          'guid-taken',
          'The guid is another client’s lab',
          409,
          'guid rhdp42 is a lab of another API client; nothing was created or handed out: choose another guid',
        ),
        scopes.join(' '),
      );
      const text = JSON.stringify(squatter.body);
      assert.ok(!text.includes('sk-') && !text.includes('client-a'), 'neither a key nor the owner');
    }
    // A request beyond the asker's own limits is refused for them first, whether the guid is taken or not.
    const limited = (guid: string) =>
      call(
        handlers.provision,
        asClient(postKeysEvent({ ...settings, guid }), 'client-b', OWN_LABS, { packages: ['ai-beginner'] }),
      );
    const [taken, free] = await Promise.all([limited('rhdp42'), limited('rhdp43')]);
    assert.deepEqual([taken.status, taken.body.type], [free.status, free.body.type]);
    assert.equal(taken.status, 403);
    assert.deepEqual(
      await labState('rhdp43'),
      await labState('never-seen'),
      'nothing recorded for the free guid',
    );

    assert.equal(writes(), before, 'nothing made');
    assert.equal(h.kms.callCount('Decrypt'), decryptsBefore, 'the owner’s value never opened');
    assert.deepEqual(await labState('rhdp42'), labBefore);
    const again = await call(handlers.provision, clientA(postKeysEvent(settings)));
    assert.equal(again.status, 200);
    assert.equal(again.body.litellm_virtual_key, ownerKey, 'the owner’s key is the same');
    assert.deepEqual(await probeKey(h.litellm.url, ownerKey), {
      status: 200,
      models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'],
    });
  });

  it('lists only the client’s own labs, and refuses another client’s without all-labs', async () => {
    await call(handlers.provision, ops(postKeysEvent({ guid: 'tb-l-ops' })));
    await call(handlers.provision, portal(postKeysEvent({ guid: 'tb-l-portal' })));

    const own = await call(handlers.status, portal(listKeysEvent()));
    assert.deepEqual(
      (own.body.labs as { guid: string }[]).map((lab) => lab.guid),
      ['tb-l-portal'],
    );
    const everyone = await call(handlers.status, ops(listKeysEvent()));
    assert.deepEqual((everyone.body.labs as { guid: string }[]).map((lab) => lab.guid).sort(), [
      'tb-l-ops',
      'tb-l-portal',
    ]);
    const foreign = await call(handlers.status, portal(listKeysEvent({ client: 'ops' })));
    assert.deepEqual(
      foreign.body,
      problem(
        'missing-scope',
        'Missing scope',
        403,
        'API client portal lacks the scope "all-labs" to list the labs of another client',
      ),
    );
  });
});

describe('scopes', () => {
  type Route = 'provision' | 'read' | 'list' | 'extend' | 'destroy';
  /** Each route, the scopes that open it, and the reason its refusal gives. */
  const ROUTES: Record<Route, { opens: string[]; why: string; success: number }> = {
    provision: { opens: ['provision'], why: 'to provision labs', success: 201 },
    read: { opens: ['read', 'read-key'], why: 'to read a lab’s status', success: 200 },
    list: { opens: ['list'], why: 'to list labs', success: 200 },
    extend: { opens: ['extend'], why: 'to extend labs', success: 200 },
    destroy: { opens: ['destroy'], why: 'to destroy labs', success: 200 },
  };
  const send = (route: Route, client: string, scopes: string[]) => {
    const guid = `tb-s-${client}`;
    const events = {
      provision: () => postKeysEvent({ guid }),
      read: () => getKeysEvent('tb-shared'),
      list: () => listKeysEvent(),
      extend: () => extendKeysEvent('tb-shared', { duration: '10d' }),
      destroy: () => deleteKeysEvent(guid),
    };
    const handler = {
      provision: handlers.provision,
      read: handlers.status,
      list: handlers.status,
      extend: handlers.extend,
      destroy: handlers.destroy,
    }[route];
    return call(handler, asClient(events[route](), client, scopes));
  };

  it('opens each route to exactly the scopes it needs (clients × routes)', async () => {
    await call(handlers.provision, postKeysEvent({ guid: 'tb-shared' }));
    const clients: [string, string[]][] = [
      ['none', []],
      ...OWN_LABS.map((scope): [string, string[]] => [scope, [scope, 'all-labs']]),
    ];
    const table: string[] = [];
    for (const [client, scopes] of clients) {
      // Each client's own lab exists, so destroy can succeed where it is allowed.
      const own = await call(
        handlers.provision,
        asClient(postKeysEvent({ guid: `tb-s-${client}` }), client, ['provision']),
      );
      assert.equal(own.status, 201, JSON.stringify(own.body));
      for (const route of Object.keys(ROUTES) as Route[]) {
        const { opens, why, success } = ROUTES[route];
        const answer = await send(route, client, scopes);
        const allowed = opens.some((scope) => scopes.includes(scope));
        if (allowed) {
          assert.equal(
            answer.status,
            route === 'provision' ? 200 : success,
            `${client} → ${route}: ${JSON.stringify(answer.body)}`,
          );
        } else {
          assert.deepEqual(
            answer.body,
            problem(
              'missing-scope',
              'Missing scope',
              403,
              `API client ${client} lacks the scope "${opens[0]}" ${why}`,
            ),
            `${client} → ${route}`,
          );
        }
        table.push(`${client}:${route}:${answer.status}`);
      }
    }
    assert.equal(table.filter((cell) => !cell.endsWith(':403')).length, 6);
  });

  it('shows raw keys only with read-key, and logs each read without the key', async () => {
    const provisioned = await call(handlers.provision, postKeysEvent({ guid: 'tb-raw' }));
    const key = String(provisioned.body.litellm_virtual_key);

    const plain = await call(
      handlers.status,
      asClient(getKeysEvent('tb-raw'), 'viewer', ['read', 'all-labs']),
    );
    assert.equal(plain.status, 200);
    assert.ok(!JSON.stringify(plain.body).includes(key));
    assert.equal((plain.body.keys as Record<string, unknown>[])[0]?.litellm_virtual_key, undefined);

    const from = logLines.length;
    const raw = await call(
      handlers.status,
      asClient(getKeysEvent('tb-raw'), 'auditor', ['read-key', 'all-labs']),
    );
    assert.equal((raw.body.keys as Record<string, unknown>[])[0]?.litellm_virtual_key, key);
    const reads = logEntries()
      .slice(from)
      .filter((entry) => entry.message === 'raw key read');
    assert.deepEqual(
      reads.map((entry) => [entry.level, entry.client, entry.guid, entry.aliases]),
      [['info', 'auditor', 'tb-raw', ['virtkey-tb-raw']]],
    );
    assert.deepEqual(linesLeaking([key]), []);
  });
});

describe('limits', () => {
  const LIMITS = {
    packages: ['ai-beginner', 'ai-developer'],
    models: false,
    max_budget: 10,
    require_budget: true,
    max_duration: '30d',
    max_users: 5,
  };
  const bounded = <T extends APIGatewayProxyEventV2>(event: T) =>
    asClient(event, 'workshop', ['provision', 'read', 'extend'], LIMITS);

  it('names every limit a provision exceeds, and writes nothing', async () => {
    const answer = await call(
      handlers.provision,
      bounded(
        postKeysEvent({
          guid: 'tb-lim',
          package: 'ai-researcher',
          models: ['granite-3-2-8b-instruct'],
          duration: '90d',
          users: 6,
        }),
      ),
    );
    const errors = [
      {
        field: 'package',
        message: "is not among the client's packages (limit packages: ai-beginner, ai-developer)",
      },
      { field: 'models', message: 'may not be chosen by this client (limit models: false)' },
      { field: 'max_budget', message: 'is required for this client (limit require_budget)' },
      { field: 'duration', message: "90d exceeds the client's limit max_duration (30d)" },
      { field: 'users', message: "6 users exceed the client's limit max_users (5)" },
    ];
    assert.deepEqual(
      answer.body,
      problem(
        'limit-exceeded',
        'Beyond the client’s limits',
        403,
        `the request exceeds limits of API client workshop: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
        errors,
      ),
    );
    const overBudget = await call(
      handlers.provision,
      bounded(postKeysEvent({ guid: 'tb-lim', package: 'ai-beginner', max_budget: 50 })),
    );
    assert.deepEqual(overBudget.body.errors, [
      { field: 'max_budget', message: "50 exceeds the client's limit max_budget (10)" },
    ]);
    assert.equal(writes(), 0);
    // Only the lease's bookkeeping: no state, no client, no key.
    const ledger = await h.ledger.lab('tb-lim');
    assert.deepEqual([ledger.lab?.lab_state, ledger.lab?.client, ledger.keys], [undefined, undefined, []]);
  });

  it('lets a request within the limits through, and bounds its extensions', async () => {
    const made = await call(
      handlers.provision,
      bounded(postKeysEvent({ guid: 'tb-lim2', package: 'ai-beginner', max_budget: 5, users: 5 })),
    );
    assert.equal(made.status, 201);
    const tooLong = await call(handlers.extend, bounded(extendKeysEvent('tb-lim2', { duration: '60d' })));
    assert.equal(tooLong.status, 403);
    assert.equal(tooLong.body.type, `${PROBLEM}limit-exceeded`);
    assert.match(
      String((tooLong.body.errors as { message: string }[])[0]?.message),
      /beyond the client's limit max_duration \(30d\) from now$/,
    );
    const within = await call(handlers.extend, bounded(extendKeysEvent('tb-lim2', { duration: '20d' })));
    assert.equal(within.status, 200);
  });
});

describe('bounded input and output', () => {
  const fields = (n: number) =>
    `{"guid":"tb-big",${Array.from({ length: n }, (_, i) => `"f${i}":0`).join(',')}}`;

  it('refuses a body over 64 KiB before parsing it, with a short answer and log line', async () => {
    const body = fields(50_000);
    const from = logLines.length;
    const answer = await call(handlers.provision, postKeysEvent(body));
    assert.deepEqual(
      answer.body,
      problem(
        'body-too-large',
        'Body too large',
        413,
        `the request body has ${Buffer.byteLength(body)} bytes; at most 65536 are accepted`,
      ),
    );
    assert.ok(logLines.slice(from).every((line) => line.length < 2000));
    assert.equal(writes(), 0);
  });

  it('lists at most 20 field errors and counts the rest', async () => {
    const answer = await call(handlers.provision, postKeysEvent(fields(5_000)));
    assert.equal(answer.status, 400);
    assert.equal((answer.body.errors as unknown[]).length, 20);
    assert.equal(answer.body.more_errors, 4_980);
    assert.ok(JSON.stringify(answer.body).length < 4_000);
  });

  it('never passes on a master key that LiteLLM’s side reflects', async () => {
    proxy.echo = '/key/generate';
    const from = logLines.length;
    const answer = await call(handlers.provision, postKeysEvent({ guid: 'tb-echo' }));
    assert.equal(answer.status, 502);
    const text = JSON.stringify(answer.body);
    assert.ok(!text.includes(MASTER_KEY), text);
    assert.match(text, /redacted/);
    assert.deepEqual(
      linesLeaking([MASTER_KEY]).filter((line) => logLines.indexOf(line) >= from),
      [],
    );
  });
});

describe('direct deletion’s connection', () => {
  it('uses verified TLS unless the URL opts out, and never names the host', async () => {
    const url = new URL(h.litellm.table.db.url);
    url.searchParams.delete('sslmode');
    const deletion = { guid: 'tb-db', keyIds: ['0'.repeat(64)], deadline: new Deadline(Date.now() + 10_000) };
    const refused = await deleteKeysFromDatabase(url.toString(), deletion).then(
      () => undefined,
      (error: Error) => error,
    );
    assert.ok(refused, 'a database without TLS is refused');
    assert.match(refused.message, /^LiteLLM's database is unreachable for direct deletion \([^)]*, TLS\)$/);
    for (const part of [url.hostname, url.port, url.username])
      assert.ok(!refused.message.includes(part), part);

    // Prisma's own parameters are not pg's: they are dropped, not sent on.
    url.searchParams.set('sslmode', 'disable');
    url.searchParams.set('connection_limit', '5');
    url.searchParams.set('pool_timeout', '10');
    url.searchParams.set('pgbouncer', 'true');
    assert.deepEqual(await deleteKeysFromDatabase(url.toString(), deletion), []);
  });
});

describe('stored key values', () => {
  const readKey = (guid: string) =>
    call(handlers.status, asClient(getKeysEvent(guid), 'auditor', ['read-key', 'all-labs']));

  it('the ledger holds no raw key: every key entry keeps its value sealed', async () => {
    const values: string[] = [];
    for (const body of [{ guid: 'tb-kms1' }, { guid: 'tb-kms2', users: 3 }, { guid: 'tb-kms3' }]) {
      const answer = await call(handlers.provision, postKeysEvent(body));
      assert.equal(answer.status, 201);
      values.push(
        ...((answer.body.litellm_virtual_keys as string[] | undefined) ?? [
          String(answer.body.litellm_virtual_key),
        ]),
      );
    }
    assert.equal((await call(handlers.destroy, deleteKeysEvent('tb-kms3'))).status, 200);
    assert.equal(values.length, 5);
    assert.ok(values.every((value) => value.startsWith('sk-')));

    const items = await h.ledger.scan();

    assert.deepEqual(items.map((item) => item.guid).sort(), ['tb-kms1', 'tb-kms2', 'tb-kms3']);
    const text = JSON.stringify(items);
    assert.ok(!text.includes('sk-'), 'no raw key anywhere in the table');
    for (const value of values) assert.ok(!text.includes(value.slice(3)), 'not even without its prefix');
    const entries = items.flatMap((item) => (item.keys ?? []) as Record<string, unknown>[]);
    assert.equal(entries.length, 4, 'the destroyed lab keeps no key entry');
    for (const entry of entries) {
      assert.match(String(entry.sealed), /^[A-Za-z0-9+/]{40,}={0,2}$/, 'sealed text, base64');
      assert.deepEqual(
        Object.keys(entry).filter((name) => /value|raw|secret/.test(name)),
        [],
      );
    }
  });

  it('a sealed value copied into another lab’s key entry does not open: 500 key-value-unreadable, nothing handed out', async () => {
    const source = await call(handlers.provision, postKeysEvent({ guid: 'tb-seal1' }));
    const target = await call(handlers.provision, postKeysEvent({ guid: 'tb-seal2' }));
    assert.deepEqual([source.status, target.status], [201, 201]);
    const [copied] = (await h.ledger.lab('tb-seal1')).keys;
    const { lab: item } = await h.ledger.lab('tb-seal2');
    const lab = labFromItem(item ?? {});
    await h.ledger.putItems([
      labToItem({ ...lab, keys: lab.keys.map((key) => ({ ...key, sealed: String(copied?.sealed) })) }),
    ]);
    const from = logLines.length;

    const answer = await readKey('tb-seal2');

    assert.deepEqual(
      answer.body,
      problem(
        'key-value-unreadable',
        'Stored key value unreadable',
        500,
        'the stored value of virtkey-tb-seal2 (lab tb-seal2, target default) does not open under its own record; it is not handed out',
      ),
    );
    const text = JSON.stringify(answer.body);
    assert.ok(!text.includes('sk-'), 'no key in the answer');
    assert.deepEqual(
      linesLeaking([String(source.body.litellm_virtual_key), String(target.body.litellm_virtual_key)]).filter(
        (line) => logLines.indexOf(line) >= from,
      ),
      [],
    );
    // The lab the value came from still opens its own.
    const own = await readKey('tb-seal1');
    assert.equal(
      (own.body.keys as Record<string, unknown>[])[0]?.litellm_virtual_key,
      source.body.litellm_virtual_key,
    );
  });

  it('a status with read-key fails, handing out no raw key, when KMS refuses to decrypt', async () => {
    const provisioned = await call(handlers.provision, postKeysEvent({ guid: 'tb-deny' }));
    assert.equal(provisioned.status, 201);
    h.kms.denyAll();
    const decrypts = h.kms.callCount('Decrypt');

    const answer = await readKey('tb-deny');

    assert.deepEqual(
      answer.body,
      problem(
        'key-vault-refused',
        'KMS refused the service',
        500,
        "KMS refused Decrypt (AccessDeniedException): the function's role, the KMS key's policy or the key's state (disabled, deleted) does not allow it; no key was handed out",
      ),
    );
    assert.ok(!JSON.stringify(answer.body).includes('sk-'));
    assert.ok(h.kms.callCount('Decrypt') > decrypts, 'KMS was asked, and refused');
    // Without read-key nothing needs opening: the status is served.
    const plain = await call(
      handlers.status,
      asClient(getKeysEvent('tb-deny'), 'viewer', ['read', 'all-labs']),
    );
    assert.equal(plain.status, 200);
    assert.equal((plain.body.keys as Record<string, unknown>[])[0]?.litellm_virtual_key, undefined);
  });
});

describe('lab events', () => {
  it('refuses a detail over 64 KiB with Virtual Key Failed, settled, nothing written', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'.repeat(250)]));
    const result = await handlers.provision(
      labProvisionedEvent({ guid: 'tb-evt', metadata }),
      lambdaContext(),
    );
    assert.deepEqual(result, {
      outcome: 'rejected',
      status: 413,
      detail: 'the event detail has 77920 bytes; at most 65536 are accepted',
    });
    const [failed] = h.bus.of('Virtual Key Failed');
    assert.equal(failed?.detail.reason, 'body-too-large');
    assert.match(
      String((failed?.detail.error as { detail?: string } | undefined)?.detail),
      /^the event detail has \d+ bytes; at most 65536 are accepted$/,
    );
    assert.equal(writes(), 0);
  });
});
