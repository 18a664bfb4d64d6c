import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  asClient,
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  labDestroyedEvent,
  labProvisionedEvent,
  lambdaContext,
  listKeysEvent,
  postKeysEvent,
  scheduledSweepEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp, probeKey } from '../support/fixtures/http.ts';
import {
  closeAndCheck,
  type Handler,
  type Harness,
  importRouteHandlers,
  MASTER_KEY,
  MASTER_KEY_SECRET_ID,
  type RouteHandlers,
  setKeyExpiry,
  startHarness,
} from '../support/harness.ts';
import { LiteLlmStandIn } from '../support/stand-ins/litellm/server.ts';

/**
 * Two LiteLLM proxies behind one deployment: `default` (the harness's stand-in) and `east`, each
 * with its own URL, public URL, master key and models. Every lab goes to, and stays on, its own.
 */
const EAST_KEY = 'sk-east-master-0123456789abcdef0123456789ab';
const EAST_SECRET_ID = 'litellm-virtual-keys/litellm-master-key-east';
const EAST_ONLY = 'qwen-east-14b';
const GRANITE = 'granite-3-2-8b-instruct';

let h: Harness;
let east: LiteLlmStandIn;
let route: RouteHandlers;
let moveHandler: Handler;
let sweep: Handler;
const issued = new Set<string>();

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

before(async () => {
  east = await LiteLlmStandIn.start({ masterKey: EAST_KEY, models: [GRANITE, EAST_ONLY] });
  h = await startHarness();
  h.secrets.put(EAST_SECRET_ID, JSON.stringify({ master_key: EAST_KEY, database_url: east.table.db.url }));
  // Configuration is read when the functions are first imported, as at a Lambda cold start.
  process.env.LITELLM_TARGETS = JSON.stringify({
    default: {
      url: h.litellm.url,
      public_url: 'https://litellm.example.com',
      master_key_secret_id: MASTER_KEY_SECRET_ID,
    },
    east: {
      url: `${east.url}/`,
      public_url: 'https://ai-east.example.com/',
      master_key_secret_id: EAST_SECRET_ID,
    },
  });
  route = await importRouteHandlers();
  ({ handler: moveHandler } = (await import('../../functions/move.ts')) as { handler: Handler });
  ({ handler: sweep } = (await import('../../functions/sweep.ts')) as { handler: Handler });
});
beforeEach(async () => {
  await Promise.all([h.reset(), east.reset()]);
  h.secrets.put(EAST_SECRET_ID, JSON.stringify({ master_key: EAST_KEY, database_url: east.table.db.url }));
});
afterEach(() => {
  h.litellm.faults.clear();
  east.faults.clear();
});
after(async () => {
  const eastKeys = [...east.issuedKeys];
  await east.close();
  await closeAndCheck(h, [...issued, ...eastKeys, EAST_KEY]);
});

async function http(handler: Handler, event: APIGatewayProxyEventV2) {
  const answer = await invokeHttp(handler, event, lambdaContext());
  for (const field of ['litellm_virtual_key', 'litellm_virtual_keys']) {
    for (const value of [answer.body[field]].flat()) if (typeof value === 'string') issued.add(value);
  }
  return answer;
}

function moveEvent(guid: string, body: unknown): APIGatewayProxyEventV2 {
  const event = extendKeysEvent(guid, body);
  event.routeKey = 'POST /keys/{guid}/move';
  event.requestContext.routeKey = 'POST /keys/{guid}/move';
  event.rawPath = `/keys/${guid}/move`;
  event.requestContext.http.path = event.rawPath;
  return event;
}

const provision = (body: Record<string, unknown>) => http(route.provision, postKeysEvent(body));
const move = (guid: string, target: string) => http(moveHandler, moveEvent(guid, { target }));

/** The lab's keys each proxy holds, by alias. */
async function aliasesOn(standIn: LiteLlmStandIn, guid: string): Promise<string[]> {
  const { rows } = await standIn.table.list({}, 1, 1000);
  return rows
    .filter((row) => row.metadata.guid === guid)
    .map((row) => String(row.key_alias))
    .sort();
}

describe('two LiteLLM targets', () => {
  it('provisions on each target with its own models, endpoint and master key; the other proxy sees no call', async () => {
    const onDefault = await provision({ guid: 'tgt-a', package: 'ai-beginner' });
    h.litellm.resetCounters();
    const onEast = await provision({ guid: 'tgt-b', target: 'east', models: [EAST_ONLY] });

    assert.equal(onDefault.status, 201);
    assert.equal(onDefault.body.litellm_target, 'default');
    assert.equal(onDefault.body.litellm_api_endpoint, 'https://litellm.example.com');
    assert.equal(onEast.status, 201);
    assert.equal(onEast.body.litellm_target, 'east');
    assert.equal(onEast.body.litellm_api_endpoint, 'https://ai-east.example.com');
    assert.equal(onEast.body.litellm_api_base_url, 'https://ai-east.example.com/v1');
    assert.deepEqual(onEast.body.litellm_available_models, [EAST_ONLY]);
    const info = onEast.body.user_info as { messages: string[]; data: Record<string, unknown> };
    assert.equal(info.messages[0], 'LiteLLM API Base URL: https://ai-east.example.com/v1');
    assert.equal(info.data.litellm_target, 'east');
    assert.equal(h.litellm.callCount(), 0, 'the default proxy is not called for a lab on east');
    assert.deepEqual(await aliasesOn(east, 'tgt-b'), ['virtkey-tgt-b']);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-b'), []);
    assert.deepEqual(await aliasesOn(east, 'tgt-a'), []);
    // Each key works on its own proxy only.
    assert.equal((await probeKey(east.url, String(onEast.body.litellm_virtual_key))).status, 200);
    assert.equal((await probeKey(h.litellm.url, String(onEast.body.litellm_virtual_key))).status, 401);
    const [provisioned] = h.bus.of('Virtual Key Provisioned').slice(-1);
    assert.equal(provisioned?.detail.litellm_target, 'east');
  });

  it('refuses an unknown target, or a model the target does not serve, with nothing created on either proxy', async () => {
    const unknown = await provision({ guid: 'tgt-c', target: 'west' });
    const unserved = await provision({ guid: 'tgt-c', models: [EAST_ONLY] });

    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.detail), /unknown LiteLLM target west/);
    assert.deepEqual(unknown.body.errors, [{ field: 'target', message: 'must be one of default, east' }]);
    assert.equal(unserved.status, 400);
    assert.match(String(unserved.body.detail), /qwen-east-14b/);
    assert.equal(h.litellm.mutatingCalls() + east.mutatingCalls(), 0);
    assert.equal(east.callCount(), 0);
  });

  it('keeps a client limited to some targets off the others, and names it no other target', async () => {
    const limited = (body: unknown) =>
      asClient(postKeysEvent(body), 'workshop', ['provision'], { targets: ['default'] });
    const refused = await http(route.provision, limited({ guid: 'tgt-d', target: 'east' }));
    const unknown = await http(route.provision, limited({ guid: 'tgt-d', target: 'west' }));

    assert.equal(refused.status, 403);
    assert.match(String(refused.body.detail), /limit targets: default/);
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.errors, [{ field: 'target', message: 'must be one of default' }]);
    assert.equal(east.callCount(), 0);
  });

  it('never hands one lab’s stored value to another lab whose alias it shares, whatever target holds its key', async () => {
    // User x of lab tgt-q and the single-user lab tgt-q-x share the alias virtkey-tgt-q-x.
    const first = await provision({ guid: 'tgt-q', target: 'east', users: ['x'], package: 'ai-beginner' });
    const second = await provision({ guid: 'tgt-q-x', package: 'ai-beginner' });

    assert.equal(first.status, 201);
    // Each lab's value is sealed in its own record: the second lab gets a key of its own.
    assert.equal(second.status, 201, JSON.stringify(second.body));
    const [userX] = first.body.litellm_virtual_keys as string[];
    const own = String(second.body.litellm_virtual_key);
    assert.notEqual(own, userX);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-q-x'), ['virtkey-tgt-q-x']);
    assert.deepEqual(await aliasesOn(east, 'tgt-q'), ['virtkey-tgt-q-x']);
    assert.equal((await h.ledger.lab('tgt-q-x')).keys[0]?.key_id, sha256(own));
    assert.equal((await h.ledger.lab('tgt-q')).keys[0]?.key_id, sha256(String(userX)));
    assert.equal((await probeKey(east.url, String(userX))).status, 200, 'the first lab’s key is untouched');
    assert.equal((await probeKey(h.litellm.url, own)).status, 200);
  });

  it('lets no client reach another client’s lab through a shared alias: a user added and destroyed leaves the other lab’s key working', async () => {
    // Lab col-a-b (client rhdp, on east) and user b of lab col-a (client limited, on default) share virtkey-col-a-b.
    const limited = (event: APIGatewayProxyEventV2) =>
      asClient(event, 'limited', ['provision', 'destroy', 'read'], { targets: ['default'] });
    const other = await provision({ guid: 'col-a-b', target: 'east', package: 'ai-beginner' });
    assert.equal(other.status, 201);
    const otherKey = String(other.body.litellm_virtual_key);
    const first = await http(
      route.provision,
      limited(postKeysEvent({ guid: 'col-a', users: ['c'], package: 'ai-beginner' })),
    );
    assert.equal(first.status, 201);

    const added = await http(
      route.provision,
      limited(postKeysEvent({ guid: 'col-a', users: ['b'], package: 'ai-beginner' })),
    );
    east.resetCounters();
    h.litellm.resetCounters();
    const destroyed = await http(route.destroy, limited(deleteKeysEvent('col-a')));

    // The alias is free on default, where lab col-a lives: user b gets a key of its own there.
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(destroyed.status, 200);
    assert.equal(destroyed.body.deleted_keys, 2);
    assert.equal(east.callCount(), 0, 'the destroy never reached east');
    assert.equal(h.litellm.callCount('GET /v1/models'), 2, 'only lab col-a’s own two keys were probed');
    assert.equal((await probeKey(east.url, otherKey)).status, 200, 'the other client’s key still works');
    const replay = await provision({ guid: 'col-a-b', target: 'east', package: 'ai-beginner' });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.litellm_virtual_key, otherKey, 'and its value was not rotated');
    assert.equal((await h.ledger.lab('col-a-b')).keys[0]?.key_id, sha256(otherKey));
  });

  it('takes a lab event’s target and announces it', async () => {
    const result = (await route.provision(
      labProvisionedEvent({ guid: 'tgt-e', target: 'east', package: 'ai-beginner' }),
      lambdaContext(),
    )) as { outcome: string };

    assert.equal(result.outcome, 'created');
    assert.deepEqual(await aliasesOn(east, 'tgt-e'), ['virtkey-tgt-e']);
    assert.equal(h.bus.of('Virtual Key Provisioned').at(-1)?.detail.litellm_target, 'east');
  });

  it('sends status, extend and destroy to the lab’s own target, whatever the request says', async () => {
    await provision({ guid: 'tgt-f', target: 'east', package: 'ai-beginner' });
    h.litellm.resetCounters();
    east.resetCounters();

    const again = await provision({ guid: 'tgt-f', package: 'ai-beginner' });
    const elsewhere = await provision({ guid: 'tgt-f', target: 'default', package: 'ai-beginner' });
    const status = await http(route.status, getKeysEvent('tgt-f'));
    const extended = await http(route.extend, extendKeysEvent('tgt-f', { duration: '10d' }));
    const wrongDestroy = await http(route.destroy, deleteKeysEvent('tgt-f', { target: 'default' }));
    const listed = await http(route.status, listKeysEvent({ target: 'east' }));
    const destroyed = await http(route.destroy, deleteKeysEvent('tgt-f'));

    assert.equal(again.status, 200, 'a retry naming no target finds the lab on east');
    assert.equal(again.body.litellm_target, 'east');
    assert.equal(elsewhere.status, 409);
    assert.match(String(elsewhere.body.detail), /on LiteLLM target east, not default.*\/move/);
    assert.equal(status.status, 200);
    assert.equal(status.body.litellm_target, 'east');
    assert.equal(extended.status, 200);
    assert.equal(extended.body.litellm_target, 'east');
    assert.equal(wrongDestroy.status, 409);
    assert.equal(wrongDestroy.body.type, 'urn:litellm-virtual-keys:problem:target-mismatch');
    assert.deepEqual(
      (listed.body.labs as { guid: string; target: string }[]).map((lab) => [lab.guid, lab.target]),
      [['tgt-f', 'east']],
    );
    assert.equal(destroyed.status, 200);
    assert.equal(destroyed.body.litellm_target, 'east');
    assert.equal(destroyed.body.deleted_keys, 1);
    assert.equal(wrongDestroy.body.litellm_target, undefined);
    assert.equal(h.litellm.callCount(), 0, 'the default proxy saw none of it');
    assert.ok(east.callCount('POST /key/update') >= 1);
    assert.equal(east.callCount('POST /key/delete'), 1);
    assert.deepEqual(await aliasesOn(east, 'tgt-f'), []);
    assert.deepEqual(
      h.bus.entries.slice(-3).map((e) => [e.detailType, e.detail.litellm_target]),
      [
        ['Virtual Key Provisioned', 'east'],
        ['Virtual Key Extended', 'east'],
        ['Virtual Key Destroyed', 'east'],
      ],
    );
  });

  it('answers 503 for labs on a target that is down, serves the other target’s labs, and the sweep reports both', async () => {
    const a = await provision({ guid: 'tgt-g', package: 'ai-beginner' });
    const b = await provision({ guid: 'tgt-h', target: 'east', package: 'ai-beginner' });
    const past = new Date(Date.now() - 3_600_000);
    await setKeyExpiry(h, 'tgt-g', String(a.body.litellm_key_id), past);
    await setKeyExpiry(h, 'tgt-h', String(b.body.litellm_key_id), past);
    // east's own table keeps the expiry the ledger now has.
    await east.table.update(String(b.body.litellm_key_id), { expires: past });
    east.faults.set({ errorRate: 1 });

    const down = await http(route.status, getKeysEvent('tgt-h'));
    const up = await http(route.status, getKeysEvent('tgt-g'));
    const fresh = await provision({ guid: 'tgt-i', package: 'ai-beginner' });
    const report = (await sweep(scheduledSweepEvent(), lambdaContext(120_000))) as {
      deleted: number;
      stopped_early: boolean;
      targets: Record<string, { status: string; deleted: number; failed: number; detail?: string }>;
    };

    assert.equal(down.status, 503);
    assert.ok(down.headers['retry-after'] ?? down.headers['Retry-After']);
    assert.equal(up.status, 200);
    assert.equal(fresh.status, 201);
    assert.equal(report.targets.default?.status, 'swept');
    assert.equal(report.targets.default?.deleted, 1);
    assert.equal(report.targets.east?.status, 'unavailable');
    assert.equal(report.targets.east?.deleted, 0);
    assert.equal(report.targets.east?.failed, 1);
    assert.match(String(report.targets.east?.detail), /unavailable/);
    assert.equal(report.deleted, 1);
    assert.equal(report.stopped_early, true);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-g'), []);
    assert.deepEqual(await aliasesOn(east, 'tgt-h'), ['virtkey-tgt-h'], 'left for the next run');

    east.faults.clear();
    const next = (await sweep(scheduledSweepEvent(), lambdaContext(120_000))) as typeof report;
    assert.equal(next.targets.east?.status, 'swept');
    assert.equal(next.targets.east?.deleted, 1);
    assert.deepEqual(await aliasesOn(east, 'tgt-h'), []);
  });

  it('picks up a rotated master key on one target without touching the other’s', async () => {
    await provision({ guid: 'tgt-j', package: 'ai-beginner' });
    await provision({ guid: 'tgt-k', target: 'east', package: 'ai-beginner' });
    const rotated = 'sk-east-rotated-master-key-2222';
    east.rotateMasterKey(rotated);
    h.secrets.replace(EAST_SECRET_ID, JSON.stringify({ master_key: rotated }));
    // The default target's secret cannot be read now: its cached key must carry it through.
    h.secrets.replace(MASTER_KEY_SECRET_ID, 'not-a-master-key');

    const stale = await http(route.status, getKeysEvent('tgt-k'));
    const other = await http(route.status, getKeysEvent('tgt-j'));
    const fresh = await http(route.status, getKeysEvent('tgt-k'));

    assert.equal(stale.status, 503);
    assert.equal(stale.body.type, 'urn:litellm-virtual-keys:problem:litellm-master-key-refused');
    assert.equal(other.status, 200, 'the default target keeps its cached key');
    assert.equal(fresh.status, 200, 'east’s rotated key was read afresh');
    h.secrets.replace(
      MASTER_KEY_SECRET_ID,
      JSON.stringify({ master_key: MASTER_KEY, database_url: h.litellm.table.db.url }),
    );
    issued.add(rotated);
  });
});

describe('moving a lab', () => {
  it('destroys a lab on its own target when a Lab Destroyed event names the target it was moved from', async () => {
    await provision({ guid: 'tgt-r', package: 'ai-beginner' });
    assert.equal((await move('tgt-r', 'east')).status, 200);

    const result = (await route.destroy(
      labDestroyedEvent({ guid: 'tgt-r', target: 'default' }),
      lambdaContext(),
    )) as { outcome: string };

    assert.equal(result.outcome, 'destroyed');
    assert.deepEqual(await aliasesOn(east, 'tgt-r'), []);
    assert.equal(h.bus.of('Virtual Key Destroyed').at(-1)?.detail.litellm_target, 'east');
  });

  it('moves every key to the new target, pinned first, and a retry after a failure half way finishes it', async () => {
    const made = await provision({
      guid: 'tgt-m',
      users: 3,
      package: 'ai-beginner',
      metadata: { event: 'summit' },
    });
    const oldKeys = made.body.litellm_virtual_keys as string[];
    // user2's key cannot be made on east: the move stops with user1's (and perhaps user3's) made there.
    east.faults.failNext('POST /key/generate', '503', 3, 'virtkey-tgt-m-user2');

    const failed = await move('tgt-m', 'east');
    const midway = await http(route.status, getKeysEvent('tgt-m'));

    assert.equal(failed.status, 503);
    assert.equal(midway.status, 200, 'the lab works as before on its old target');
    assert.equal(midway.body.litellm_target, 'default');
    assert.equal((midway.body.keys as unknown[]).length, 3);
    for (const key of oldKeys) assert.equal((await probeKey(h.litellm.url, key)).status, 200);
    const madeBefore = (await aliasesOn(east, 'tgt-m')).length;
    assert.ok(madeBefore >= 1 && madeBefore < 3, 'some keys were made on east before the failure');

    east.resetCounters();
    const moved = await move('tgt-m', 'east');

    assert.equal(moved.status, 200);
    assert.equal(moved.body.litellm_target, 'east');
    assert.equal(moved.body.moved_from, 'default');
    assert.equal(moved.body.litellm_api_endpoint, 'https://ai-east.example.com');
    const newKeys = moved.body.litellm_virtual_keys as string[];
    assert.equal(newKeys.length, 3);
    assert.deepEqual(
      (moved.body.users as { user: string }[]).map((user) => user.user),
      ['user1', 'user2', 'user3'],
    );
    assert.ok(
      newKeys.every((key) => !oldKeys.includes(key)),
      'new values, not the old ones',
    );
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-m'), [], 'nothing left on the old target');
    assert.deepEqual(await aliasesOn(east, 'tgt-m'), [
      'virtkey-tgt-m-user1',
      'virtkey-tgt-m-user2',
      'virtkey-tgt-m-user3',
    ]);
    assert.equal(
      east.callCount('POST /key/generate'),
      3 - madeBefore,
      'the retry made only what was missing',
    );
    for (const key of newKeys) assert.equal((await probeKey(east.url, key)).status, 200);
    for (const key of oldKeys) assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    const rows = await east.table.getMany(newKeys.map(sha256));
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.deepEqual(row.models, [GRANITE]);
      assert.equal(row.metadata.event, 'summit');
      assert.equal(row.metadata.guid, 'tgt-m');
    }
    // The ledger records the new keys only, each sealed, the lab on east and where it came from.
    const recorded = await h.ledger.lab('tgt-m');
    assert.deepEqual(
      recorded.keys.map((key) => [key.alias, key.target, key.key_id, key.status]),
      newKeys.map((key, index) => [`virtkey-tgt-m-user${index + 1}`, 'east', sha256(key), 'live']),
    );
    assert.ok(recorded.keys.every((key, index) => !String(key.sealed).includes(newKeys[index] ?? '')));
    assert.deepEqual(
      [recorded.lab?.target, recorded.lab?.moved_from, recorded.lab?.moving_to, recorded.lab?.lab_state],
      ['east', 'default', undefined, 'active'],
    );
    const status = await http(route.status, getKeysEvent('tgt-m'));
    assert.equal(status.body.litellm_target, 'east');
    const movedEvent = h.bus.of('Virtual Key Moved').at(-1);
    assert.equal(movedEvent?.detail.litellm_target, 'east');
    assert.equal(movedEvent?.detail.litellm_api_endpoint, 'https://ai-east.example.com');
    assert.equal(movedEvent?.detail.moved_from, 'default');
    assert.equal(movedEvent?.detail.deleted_keys, 3);

    // Once more: already there, the same keys, nothing made or deleted, nothing announced again.
    east.resetCounters();
    h.litellm.resetCounters();
    const announced = h.bus.of('Virtual Key Moved').length;
    const replay = await move('tgt-m', 'east');
    assert.equal(replay.status, 200);
    assert.deepEqual(replay.body.litellm_virtual_keys, newKeys);
    assert.equal(replay.body.litellm_target, 'east');
    assert.equal(replay.body.moved_from, 'default', 'where the lab came from, not where it is');
    assert.equal(east.mutatingCalls() + h.litellm.mutatingCalls(), 0);
    assert.equal(h.bus.of('Virtual Key Moved').length, announced, 'no second Virtual Key Moved');
  });

  it('finishes on a retry when the old keys’ deletion fails after the switch; nothing meanwhile deletes the new value', async () => {
    const made = await provision({ guid: 'tgt-n', package: 'ai-beginner' });
    h.litellm.faults.failNext('POST /key/delete', '503', 3);

    const oldKeyId = sha256(String(made.body.litellm_virtual_key));
    const failed = await move('tgt-n', 'east');
    const meanwhile = await http(route.status, getKeysEvent('tgt-n'));
    const elsewhere = await move('tgt-n', 'default');
    const switched = await h.ledger.lab('tgt-n');
    const twin = switched.keys.find((key) => key.target === 'east');
    // The old key vanishes from its proxy behind the service's back; a sweep runs meanwhile.
    await h.litellm.table.deleteWithAudit([oldKeyId], 'operator', 'operator');
    await sweep(scheduledSweepEvent(), lambdaContext(120_000));
    const swept = await h.ledger.lab('tgt-n');
    const finished = await move('tgt-n', 'east');

    assert.equal(failed.status, 503);
    assert.equal(meanwhile.body.litellm_target, 'east', 'the switch was made: the lab is on east');
    assert.equal(elsewhere.status, 409, 'the unfinished move goes where it was going');
    assert.equal(elsewhere.body.type, 'urn:litellm-virtual-keys:problem:move-unfinished');
    // Switched: the new key live on east, the old one announced for deletion on default.
    assert.deepEqual(switched.keys.map((key) => [key.target, key.status]).sort(), [
      ['default', 'deleting'],
      ['east', 'live'],
    ]);
    assert.deepEqual(swept.keys, switched.keys, 'the sweep leaves the switched value alone');
    assert.equal(finished.status, 200, JSON.stringify(finished.body));
    assert.equal(sha256(String(finished.body.litellm_virtual_key)), twin?.key_id, 'the switched value');
    assert.equal(finished.body.litellm_target, 'east');
    assert.equal(finished.body.moved_from, 'default');
    assert.deepEqual(
      (await h.ledger.lab('tgt-n')).keys.map((key) => [key.target, key.key_id, key.status]),
      [['east', twin?.key_id, 'live']],
    );
    const announced = h.bus.of('Virtual Key Moved');
    assert.equal(announced.length, 1, 'announced once, when finished');
    assert.deepEqual(
      [
        announced[0]?.detail.moved_from,
        announced[0]?.detail.litellm_target,
        announced[0]?.detail.deleted_keys,
      ],
      ['default', 'east', 0],
    );
    assert.equal((await probeKey(east.url, String(finished.body.litellm_virtual_key))).status, 200);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-n'), []);
    assert.deepEqual(await aliasesOn(east, 'tgt-n'), ['virtkey-tgt-n']);
    assert.equal((await probeKey(h.litellm.url, String(made.body.litellm_virtual_key))).status, 401);
  });

  it('cancels a move that stopped before its switch when asked back to where the lab is', async () => {
    const made = await provision({ guid: 'tgt-s', users: 2, package: 'ai-beginner' });
    east.faults.failNext('POST /key/generate', '503', 3, 'virtkey-tgt-s-user2');
    assert.equal((await move('tgt-s', 'east')).status, 503);

    const back = await move('tgt-s', 'default');
    const extended = await http(route.extend, extendKeysEvent('tgt-s', { duration: '2d' }));

    assert.equal(back.status, 200);
    assert.equal(back.body.litellm_target, 'default');
    assert.deepEqual(
      back.body.litellm_virtual_keys,
      made.body.litellm_virtual_keys,
      'the same keys as before',
    );
    assert.deepEqual(await aliasesOn(east, 'tgt-s'), [], 'the new keys made on east are gone');
    const recorded = await h.ledger.lab('tgt-s');
    assert.deepEqual(
      recorded.keys.map((key) => [key.target, key.key_id, key.status]),
      (made.body.litellm_virtual_keys as string[]).map((key) => ['default', sha256(key), 'live']),
    );
    assert.deepEqual([recorded.lab?.target, recorded.lab?.moving_to], ['default', undefined]);
    assert.equal(extended.status, 200, 'no move is unfinished any more');
  });

  it('carries what the old keys spent: the new ones get the rest of the budget, the event the spend', async () => {
    const made = await provision({ guid: 'tgt-t', package: 'ai-beginner', max_budget: 10 });
    await h.litellm.table.update(String(made.body.litellm_key_id), { spend: 2.5, total_spend: 2.5 });

    const moved = await move('tgt-t', 'east');

    assert.equal(moved.status, 200);
    const [row] = await east.table.getMany([String(moved.body.litellm_key_id)]);
    assert.equal(row?.max_budget, 7.5);
    const event = h.bus.of('Virtual Key Moved').at(-1);
    assert.equal(event?.detail.moved_total_spend, 2.5);
    assert.deepEqual(
      ((event?.detail.moved_spend ?? []) as { litellm_key_id: string; spend: number }[]).map((key) => [
        key.litellm_key_id,
        key.spend,
      ]),
      [[made.body.litellm_key_id, 2.5]],
    );
  });

  it('destroys a lab whose move stopped half way on both targets', async () => {
    await provision({ guid: 'tgt-o', users: 2, package: 'ai-beginner' });
    east.faults.failNext('POST /key/generate', '503', 3, 'virtkey-tgt-o-user2');
    assert.equal((await move('tgt-o', 'east')).status, 503);
    const extendMidway = await http(route.extend, extendKeysEvent('tgt-o', { duration: '1d' }));
    const twins = (await aliasesOn(east, 'tgt-o')).length;

    const destroyed = await http(route.destroy, deleteKeysEvent('tgt-o'));

    assert.equal(extendMidway.status, 409, 'no extend while a move is unfinished');
    assert.equal(destroyed.status, 200);
    assert.ok(twins >= 1);
    assert.equal(destroyed.body.deleted_keys, 2 + twins, 'the keys on both targets, each in the spend');
    assert.equal((destroyed.body.spend as unknown[]).length, 2 + twins);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-o'), []);
    assert.deepEqual(await aliasesOn(east, 'tgt-o'), []);
    const tombstone = await h.ledger.lab('tgt-o');
    assert.deepEqual(tombstone.keys, []);
    assert.deepEqual([tombstone.lab?.lab_state, tombstone.lab?.moving_to], ['destroyed', undefined]);
  });

  it('refuses a move to a target that lacks the lab’s models, an unknown target, or a client without destroy', async () => {
    await provision({ guid: 'tgt-p', target: 'east', models: [EAST_ONLY] });
    const unserved = await move('tgt-p', 'default');
    const unknown = await move('tgt-p', 'west');
    const noDestroy = await http(
      moveHandler,
      asClient(moveEvent('tgt-p', { target: 'default' }), 'rhdp', ['provision', 'all-labs']),
    );

    assert.equal(unserved.status, 400);
    assert.match(String(unserved.body.detail), /does not serve qwen-east-14b/);
    assert.equal(unknown.status, 400);
    assert.equal(noDestroy.status, 403);
    assert.deepEqual(await aliasesOn(east, 'tgt-p'), ['virtkey-tgt-p']);
    assert.deepEqual(await aliasesOn(h.litellm, 'tgt-p'), []);
    assert.equal(h.litellm.mutatingCalls(), 0);
    // Refused before it was recorded as begun: the lab carries on as before.
    assert.equal((await http(route.extend, extendKeysEvent('tgt-p', { duration: '2d' }))).status, 200);
  });
});
