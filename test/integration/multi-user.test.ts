import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  labDestroyedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
  scheduledSweepEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp, probeKey } from '../support/fixtures/http.ts';
import { type Handler, setKeyExpiry, useHarness } from '../support/harness.ts';

let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
const { h, route, issued } = useHarness({}, { setUp: importSweep });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const DAY = 86_400_000;
/** The stand-in's default LITELLM_MAX_CONNECTIONS, the client's cap on requests in flight. */
const CONNECTION_CAP = 10;

interface UserKey {
  user: string;
  litellm_virtual_key: string;
  litellm_key_alias: string;
  litellm_key_id: string;
  litellm_user_id: string;
  litellm_key_expires: string;
}

async function provision(body: Record<string, unknown>) {
  const answer = await invokeHttp(route.provision, postKeysEvent(body), lambdaContext());
  for (const user of (answer.body.users as UserKey[] | undefined) ?? []) {
    issued.add(user.litellm_virtual_key);
  }
  return answer;
}

const usersOf = (answer: { body: Record<string, unknown> }) => answer.body.users as UserKey[];
const destroy = (guid: string) => invokeHttp(route.destroy, deleteKeysEvent(guid), lambdaContext());
const status = (guid: string) => invokeHttp(route.status, getKeysEvent(guid), lambdaContext());
const extend = (guid: string, body: unknown) =>
  invokeHttp(route.extend, extendKeysEvent(guid, body), lambdaContext());
const sweep = () =>
  sweepHandler(scheduledSweepEvent(), lambdaContext(140_000)) as Promise<
    Record<string, number> & { reconciliation: Record<string, number> }
  >;

/** LiteLLM's rows per alias: a count above 1 is a duplicate key. */
async function rowsPerAlias(): Promise<Record<string, number>> {
  const rows = await h.litellm.table.db.query<{ key_alias: string; n: number }>(
    'SELECT key_alias, COUNT(*)::int AS n FROM "LiteLLM_VerificationToken" GROUP BY key_alias ORDER BY key_alias',
  );
  return Object.fromEntries(rows.map((row) => [row.key_alias, row.n]));
}

/** The keys the ledger records for a lab, each as [alias, key id, status], by alias. */
async function recordedKeys(guid: string): Promise<[string, string, string][]> {
  const { keys } = await h.ledger.lab(guid);
  return keys
    .map((key): [string, string, string] => [String(key.alias), String(key.key_id), String(key.status)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** What the ledger keeps of a destroyed lab: its state, and no key. */
async function tombstoneOf(guid: string) {
  const { lab, keys } = await h.ledger.lab(guid);
  return { state: lab?.lab_state, keys };
}
const TOMBSTONE = { state: 'destroyed', keys: [] };

/** The users the ledger records for a lab. */
const usersRecorded = async (guid: string) => (await h.ledger.lab(guid)).lab?.users as string[] | undefined;

describe('provision of a multi-user lab', () => {
  it('makes one working key per user, records the users, and a replay returns the same keys', async () => {
    const first = await provision({ guid: 'ws1', users: 3, package: 'ai-beginner' });
    h.litellm.resetCounters();
    const decrypts = h.kms.callCount('Decrypt');
    const again = await provision({ guid: 'ws1', users: 3, package: 'ai-beginner' });

    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(again.status, 200);
    const users = usersOf(first);
    assert.deepEqual(
      users.map((u) => [u.user, u.litellm_key_alias, u.litellm_user_id]),
      [
        ['user1', 'virtkey-ws1-user1', 'user1@lab.opentlc.com'],
        ['user2', 'virtkey-ws1-user2', 'user2@lab.opentlc.com'],
        ['user3', 'virtkey-ws1-user3', 'user3@lab.opentlc.com'],
      ],
    );
    assert.equal(new Set(users.map((u) => u.litellm_virtual_key)).size, 3);
    assert.deepEqual(usersOf(again), users, 'the replay answers with the same keys');
    assert.equal(h.litellm.callCount(), 0, 'the replay trusts the ledger: no LiteLLM call');
    assert.equal(h.kms.callCount('Decrypt') - decrypts, 3, 'one KMS Decrypt per key');
    for (const user of users) {
      assert.deepEqual(await probeKey(h.litellm.url, user.litellm_virtual_key), {
        status: 200,
        models: ['granite-3-2-8b-instruct'],
      });
      const row = await h.litellm.table.get(sha256(user.litellm_virtual_key));
      assert.equal(row?.user_id, `${user.user}@lab.opentlc.com`);
      assert.equal(row?.metadata.user, user.user);
      assert.equal(row?.metadata.owner, `${user.user}@lab.opentlc.com`);
    }
    assert.deepEqual(await rowsPerAlias(), {
      'virtkey-ws1-user1': 1,
      'virtkey-ws1-user2': 1,
      'virtkey-ws1-user3': 1,
    });
    assert.deepEqual(
      await recordedKeys('ws1'),
      users.map((u) => [u.litellm_key_alias, sha256(u.litellm_virtual_key), 'live']),
    );
    const { lab, keys } = await h.ledger.lab('ws1');
    assert.equal(lab?.lab_state, 'active');
    for (const [index, key] of keys.entries()) {
      assert.equal(key.user, users[index]?.user);
      assert.ok(!String(key.sealed).includes(users[index]?.litellm_virtual_key ?? ''), 'the value is sealed');
    }
    assert.deepEqual(await usersRecorded('ws1'), ['user1', 'user2', 'user3']);
    assert.equal(first.body.litellm_virtual_key, users[0]?.litellm_virtual_key);
    assert.equal(first.body.litellm_key_alias, 'virtkey-ws1-user1');
    assert.deepEqual(
      first.body.litellm_key_aliases,
      users.map((u) => u.litellm_key_alias),
    );
    assert.deepEqual(
      first.body.litellm_virtual_keys,
      users.map((u) => u.litellm_virtual_key),
    );
  });

  it('gives AgnosticD a summary to show, every user’s key to store, and each user’s own data', async () => {
    const answer = await provision({ guid: 'ws2', users: ['ann', 'bob'], package: 'ai-beginner' });

    assert.equal(answer.status, 201);
    const [ann, bob] = usersOf(answer) as [UserKey, UserKey];
    const userInfo = answer.body.user_info as { messages: string[]; data: Record<string, unknown> };
    assert.deepEqual(userInfo.messages, [
      'LiteLLM API Base URL: https://litellm.example.com/v1',
      'LiteLLM Virtual Keys: 2, one per user (ann, bob)',
      "Each user's key is in the user data as litellm_<user>_virtual_key",
      'Available Models: granite-3-2-8b-instruct',
      'Key Duration: 7d',
      `Key Expires: ${answer.body.litellm_key_expires}`,
    ]);
    assert.ok(
      userInfo.messages.every((line) => !line.includes('sk-')),
      'messages name no key',
    );
    assert.deepEqual(
      Object.fromEntries(Object.entries(userInfo.data).filter(([name]) => /^litellm_(ann|bob)_/.test(name))),
      {
        litellm_ann_virtual_key: ann.litellm_virtual_key,
        litellm_ann_key_alias: 'virtkey-ws2-ann',
        litellm_ann_key_id: sha256(ann.litellm_virtual_key),
        litellm_ann_user_email: 'ann@lab.opentlc.com',
        litellm_bob_virtual_key: bob.litellm_virtual_key,
        litellm_bob_key_alias: 'virtkey-ws2-bob',
        litellm_bob_key_id: sha256(bob.litellm_virtual_key),
        litellm_bob_user_email: 'bob@lab.opentlc.com',
      },
    );
    const scoped = (answer.body.user_info as { users: Record<string, Record<string, unknown>> }).users;
    assert.deepEqual(Object.keys(scoped), ['ann', 'bob']);
    assert.deepEqual(scoped.bob, {
      litellm_virtual_key: bob.litellm_virtual_key,
      litellm_key_alias: 'virtkey-ws2-bob',
      litellm_key_id: sha256(bob.litellm_virtual_key),
      litellm_api_endpoint: 'https://litellm.example.com',
      litellm_api_base_url: 'https://litellm.example.com/v1',
      litellm_available_models: ['granite-3-2-8b-instruct'],
      litellm_available_models_list: 'granite-3-2-8b-instruct',
      litellm_key_duration: '7d',
      litellm_key_expires: bob.litellm_key_expires,
      subscription_package: 'ai-beginner',
      litellm_user_email: 'bob@lab.opentlc.com',
    });
    assert.deepEqual(userInfo.data.litellm_virtual_keys, [ann.litellm_virtual_key, bob.litellm_virtual_key]);
    assert.deepEqual(userInfo.data.litellm_key_aliases, ['virtkey-ws2-ann', 'virtkey-ws2-bob']);
    assert.deepEqual(userInfo.data.litellm_user_ids, ['ann@lab.opentlc.com', 'bob@lab.opentlc.com']);
    assert.equal(userInfo.data.litellm_user_count, 2);
  });

  it('names counted users from user_base', async () => {
    const answer = await provision({ guid: 'ws3', users: 2, user_base: 'student' });

    assert.equal(answer.status, 201);
    assert.deepEqual(
      usersOf(answer).map((u) => u.litellm_key_alias),
      ['virtkey-ws3-student1', 'virtkey-ws3-student2'],
    );
  });

  it('refuses user_id with users, and user_base with names, creating nothing', async () => {
    const mixed = await provision({ guid: 'ws4', users: 2, user_id: 'owner@example.com' });
    const based = await provision({ guid: 'ws4', users: ['ann'], user_base: 'student' });

    assert.equal(mixed.status, 400);
    assert.deepEqual(
      (mixed.body.errors as { field: string }[]).map((e) => e.field),
      ['user_id'],
    );
    assert.equal(based.status, 400);
    assert.deepEqual(
      (based.body.errors as { field: string }[]).map((e) => e.field),
      ['user_base'],
    );
    assert.equal(h.litellm.mutatingCalls(), 0);
    assert.equal(h.kms.callCount('Encrypt'), 0, 'no value sealed');
    assert.equal((await h.ledger.lab('ws4')).lab, undefined, 'nothing recorded');
  });

  it('fails as a whole when one user’s key cannot be made; the retry completes it with the same keys', async () => {
    h.litellm.faults.failNext('POST /key/generate', '503', 100, 'virtkey-ws5-user2');

    const failed = await provision({ guid: 'ws5', users: 3 });

    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.users, undefined);
    assert.ok(!JSON.stringify(failed.body).includes('sk-'), 'no key in a failure');
    assert.equal(h.bus.of('Virtual Key Provisioned').length, 0, 'no success announced');
    // Users 1 and 3 were made; user 2's key is announced (its value sealed), not in LiteLLM.
    assert.deepEqual(await rowsPerAlias(), { 'virtkey-ws5-user1': 1, 'virtkey-ws5-user3': 1 });
    const before = await recordedKeys('ws5');
    assert.deepEqual(
      before.map(([alias, , keyStatus]) => [alias, keyStatus]),
      [
        ['virtkey-ws5-user1', 'live'],
        ['virtkey-ws5-user2', 'intended'],
        ['virtkey-ws5-user3', 'live'],
      ],
    );
    assert.equal((await h.ledger.lab('ws5')).lab?.lab_state, 'provisioning');
    h.litellm.faults.clear();

    const retried = await provision({ guid: 'ws5', users: 3 });

    assert.equal(retried.status, 201, JSON.stringify(retried.body));
    const [user1, user2, user3] = usersOf(retried) as [UserKey, UserKey, UserKey];
    assert.deepEqual(
      [user1, user2, user3].map((user) => sha256(user.litellm_virtual_key)),
      before.map(([, keyId]) => keyId),
      'users 1 and 3 keep their keys; user 2 gets the value announced before the failure',
    );
    assert.deepEqual(await rowsPerAlias(), {
      'virtkey-ws5-user1': 1,
      'virtkey-ws5-user2': 1,
      'virtkey-ws5-user3': 1,
    });
    for (const user of [user1, user2, user3]) {
      assert.equal((await probeKey(h.litellm.url, user.litellm_virtual_key)).status, 200);
    }
    assert.deepEqual(
      await recordedKeys('ws5'),
      before.map(([alias, keyId]) => [alias, keyId, 'live']),
    );
    assert.equal((await h.ledger.lab('ws5')).lab?.lab_state, 'active');
    assert.equal(await h.litellm.table.count(), 3);
  });

  it('starts no further user’s key after a failure, and the retry makes the rest', async () => {
    // Each key takes one 200 ms call, ten at a time; user1's three 503s fail it long before 100 users are through.
    h.litellm.faults.set({ latencyMs: 200 });
    h.litellm.faults.failNext('POST /key/generate', '503', 100, 'virtkey-ws11-user1"');

    const failed = await provision({ guid: 'ws11', users: 100 });

    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    const made = await h.litellm.table.count();
    assert.ok(made > 0 && made < 90, `${made} keys made before the request gave up`);
    // Every user's key was announced, its value sealed, before the first /key/generate.
    const announced = new Map((await recordedKeys('ws11')).map(([alias, keyId]) => [alias, keyId]));
    assert.equal(announced.size, 100);
    h.litellm.faults.clear();

    const retried = await provision({ guid: 'ws11', users: 100 });

    assert.equal(retried.status, 201);
    assert.equal(await h.litellm.table.count(), 100);
    assert.ok(
      Object.values(await rowsPerAlias()).every((n) => n === 1),
      'one key per alias',
    );
    for (const user of usersOf(retried)) {
      assert.equal(
        sha256(user.litellm_virtual_key),
        announced.get(user.litellm_key_alias),
        `${user.user} keeps the value announced first`,
      );
    }
    assert.ok((await recordedKeys('ws11')).every(([, , keyStatus]) => keyStatus === 'live'));
  });

  it('from a Lab Provisioned event: a failed user makes the event fail, and the redelivery completes it', async () => {
    const event = labProvisionedEvent({ guid: 'ws6', users: 2, catalog_item: 'workshop' });
    h.litellm.faults.failNext('POST /key/generate', '503', 100, 'virtkey-ws6-user2');

    await assert.rejects(route.provision(event, lambdaContext()), { status: 503 });
    h.litellm.faults.clear();
    const redelivered = await route.provision(event, lambdaContext());

    assert.deepEqual(redelivered, {
      outcome: 'created',
      guid: 'ws6',
      aliases: ['virtkey-ws6-user1', 'virtkey-ws6-user2'],
    });
    assert.deepEqual(await rowsPerAlias(), { 'virtkey-ws6-user1': 1, 'virtkey-ws6-user2': 1 });
    const [announced] = h.bus.of('Virtual Key Provisioned');
    assert.deepEqual(announced?.detail.litellm_key_aliases, ['virtkey-ws6-user1', 'virtkey-ws6-user2']);
  });

  it('adds users to a lab’s list when provisions with different users run at once', async () => {
    assert.equal((await provision({ guid: 'ws7', users: ['ann'] })).status, 201);

    const answers = await Promise.all(
      ['bob', 'cat', 'dan', 'eve'].map((user) => provision({ guid: 'ws7', users: [user] })),
    );

    assert.deepEqual(
      answers.map((answer) => answer.status),
      [201, 201, 201, 201],
    );
    assert.deepEqual((await usersRecorded('ws7'))?.sort(), ['ann', 'bob', 'cat', 'dan', 'eve']);
    const listed = await status('ws7');
    assert.deepEqual((listed.body.keys as { user: string }[]).map((key) => key.user).sort(), [
      'ann',
      'bob',
      'cat',
      'dan',
      'eve',
    ]);
  });

  it('refuses a user whose alias another lab’s key holds, and never touches that key', async () => {
    const other = await provision({ guid: 'ws8-user1' });
    assert.equal(other.status, 201);
    const otherKey = String(other.body.litellm_virtual_key);
    issued.add(otherKey);

    const clash = await provision({ guid: 'ws8', users: 2 });
    const destroyed = await destroy('ws8');

    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    assert.match(String(clash.body.detail), /virtkey-ws8-user1 .*user user1 of lab ws8/);
    assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
    assert.equal(destroyed.body.deleted_keys, 1, 'only user2’s key was this lab’s');
    assert.deepEqual(
      await recordedKeys('ws8-user1'),
      [['virtkey-ws8-user1', sha256(otherKey), 'live']],
      'the other lab’s record stays',
    );
    assert.deepEqual(await tombstoneOf('ws8'), TOMBSTONE);
    assert.equal((await probeKey(h.litellm.url, otherKey)).status, 200, 'the other lab’s key works');
    assert.deepEqual(await rowsPerAlias(), { 'virtkey-ws8-user1': 1 });
  });

  it('a single-user lab named like a user’s alias neither takes nor destroys that user’s key', async () => {
    const workshop = await provision({ guid: 'ws10', users: 1 });
    const [user1] = usersOf(workshop) as [UserKey];

    const clash = await provision({ guid: 'ws10-user1' });
    const destroyed = await destroy('ws10-user1');

    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    assert.match(String(clash.body.detail), /virtkey-ws10-user1 .*lab ws10-user1/);
    assert.deepEqual([destroyed.body.deleted_keys, destroyed.body.was_missing], [0, true]);
    assert.deepEqual(await recordedKeys('ws10'), [
      ['virtkey-ws10-user1', sha256(user1.litellm_virtual_key), 'live'],
    ]);
    assert.deepEqual((await h.ledger.lab('ws10-user1')).keys, [], 'the refused lab recorded no key');
    assert.equal((await probeKey(h.litellm.url, user1.litellm_virtual_key)).status, 200);
  });

  it('makes 200 users’ keys within the connection cap, and destroys them all', async () => {
    h.litellm.faults.set({ latencyMs: 2 });
    h.litellm.peakInFlight = 0;

    const answer = await provision({ guid: 'ws9', users: 200 });

    assert.equal(answer.status, 201, JSON.stringify(answer.body).slice(0, 500));
    assert.equal(new Set(usersOf(answer).map((u) => u.litellm_virtual_key)).size, 200);
    assert.equal(await h.litellm.table.count(), 200);
    assert.equal((await usersRecorded('ws9'))?.length, 200);
    assert.ok(h.litellm.peakInFlight <= CONNECTION_CAP, `peak ${h.litellm.peakInFlight} in flight`);
    assert.ok(h.litellm.peakInFlight > 1, 'keys are made in parallel');

    const destroyed = await destroy('ws9');

    assert.equal(destroyed.status, 200);
    assert.equal(destroyed.body.deleted_keys, 200);
    assert.equal(await h.litellm.table.count(), 0);
    assert.deepEqual(await tombstoneOf('ws9'), TOMBSTONE);
    assert.ok(h.litellm.peakInFlight <= CONNECTION_CAP, `peak ${h.litellm.peakInFlight} in flight`);
  });
});

describe('status, extend and destroy of a multi-user lab', () => {
  it('status lists every user’s key with its user and value', async () => {
    const provisioned = await provision({ guid: 'mu1', users: 3 });

    const answer = await status('mu1');

    assert.equal(answer.status, 200);
    const keys = answer.body.keys as {
      litellm_key_alias: string;
      user: string;
      litellm_virtual_key: string;
    }[];
    assert.deepEqual(
      keys.map((key) => [key.user, key.litellm_key_alias, key.litellm_virtual_key]),
      usersOf(provisioned).map((u) => [u.user, u.litellm_key_alias, u.litellm_virtual_key]),
    );
  });

  it('extend moves every user’s key, an expired one included', async () => {
    const provisioned = await provision({ guid: 'mu2', users: 3 });
    const [, second] = usersOf(provisioned) as [UserKey, UserKey, UserKey];
    await h.litellm.table.update(sha256(second.litellm_virtual_key), { expires: new Date(Date.now() - DAY) });
    const started = Date.now();

    const answer = await extend('mu2', { duration: '60d' });

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      (answer.body.keys as { user: string }[]).map((key) => key.user),
      ['user1', 'user2', 'user3'],
    );
    for (const user of usersOf(provisioned)) {
      const row = await h.litellm.table.get(sha256(user.litellm_virtual_key));
      const expires = Date.parse(`${row?.expires}Z`);
      assert.ok(Math.abs(expires - (started + 60 * DAY)) < 5000, `${user.user} expires ${row?.expires}`);
      assert.equal((await probeKey(h.litellm.url, user.litellm_virtual_key)).status, 200);
    }
  });

  it('destroy removes every user’s key and leaves a tombstone; a second destroy finds nothing', async () => {
    const provisioned = await provision({ guid: 'mu3', users: 3 });

    const answer = await destroy('mu3');
    const again = await destroy('mu3');

    assert.equal(answer.status, 200);
    assert.deepEqual(
      {
        alias: answer.body.litellm_key_alias,
        aliases: answer.body.litellm_key_aliases,
        deleted: answer.body.deleted_keys,
        verified: (answer.body.verification as { verified_by: string }[]).map((v) => v.verified_by),
      },
      {
        alias: 'virtkey-mu3-user1',
        aliases: ['virtkey-mu3-user1', 'virtkey-mu3-user2', 'virtkey-mu3-user3'],
        deleted: 3,
        verified: ['auth-probe', 'auth-probe', 'auth-probe'],
      },
    );
    for (const user of usersOf(provisioned)) {
      assert.equal((await probeKey(h.litellm.url, user.litellm_virtual_key)).status, 401);
    }
    assert.equal(await h.litellm.table.count(), 0);
    assert.deepEqual(await tombstoneOf('mu3'), TOMBSTONE);
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.deleted_keys, again.body.was_missing], [0, true]);
    assert.equal((await status('mu3')).status, 404);
  });

  it('a Lab Destroyed event removes every user’s key', async () => {
    await provision({ guid: 'mu4', users: 2 });

    const result = await route.destroy(labDestroyedEvent({ guid: 'mu4' }), lambdaContext());

    assert.deepEqual(result, { outcome: 'destroyed', guid: 'mu4', deleted_keys: 2 });
    assert.equal(await h.litellm.table.count(), 0);
    assert.deepEqual(await tombstoneOf('mu4'), TOMBSTONE);
  });
});

describe('the sweep and multi-user labs', () => {
  it('deletes an expired user’s key and keeps the others; the lab keeps its users', async () => {
    const provisioned = await provision({ guid: 'sw1', users: 2 });
    const [first, second] = usersOf(provisioned) as [UserKey, UserKey];
    await setKeyExpiry(h, 'sw1', sha256(first.litellm_virtual_key), new Date(Date.now() - DAY));

    const report = await sweep();

    assert.equal(report.deleted, 1);
    assert.equal(await h.litellm.table.get(sha256(first.litellm_virtual_key)), undefined);
    assert.equal((await probeKey(h.litellm.url, second.litellm_virtual_key)).status, 200);
    assert.deepEqual(await usersRecorded('sw1'), ['user1', 'user2']);
    assert.deepEqual(await recordedKeys('sw1'), [
      ['virtkey-sw1-user2', sha256(second.litellm_virtual_key), 'live'],
    ]);
    assert.equal((await h.ledger.lab('sw1')).lab?.lab_state, 'active');
  });
});
