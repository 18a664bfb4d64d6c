import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { clearCache } from '@middy/util';
import { logEntries } from '../support/checks/logs.ts';
import {
  deleteKeysEvent,
  labDestroyedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp, keyInfoState, probeKey } from '../support/fixtures/http.ts';
import { MASTER_KEY, MASTER_KEY_SECRET_ID, useHarness } from '../support/harness.ts';

// The deployment allows direct database deletion; single requests may still opt out.
const { h, route, issued } = useHarness({ FORCE_DB_DELETE: 'true' });
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function provision(guid: string): Promise<{ key: string; keyId: string }> {
  const answer = await invokeHttp(route.provision, postKeysEvent({ guid }), lambdaContext());
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const key = String(answer.body.litellm_virtual_key);
  issued.add(key);
  return { key, keyId: sha256(key) };
}

function destroy(guid: string, query?: Record<string, string>) {
  return invokeHttp(route.destroy, deleteKeysEvent(guid, query), lambdaContext());
}

const holdersOf = async (alias: string) => (await h.litellm.table.list({ key_alias: alias }, 1, 100)).rows;
const ourMetadata = (guid: string) => ({ managed_by: 'litellm-virtual-keys', guid, package: 'ai-developer' });
/** The lab's state in the ledger and its recorded keys, each as [key id, status]. */
async function recorded(guid: string): Promise<{ state: unknown; keys: unknown[][] }> {
  const { lab, keys } = await h.ledger.lab(guid);
  return { state: lab?.lab_state, keys: keys.map((key) => [key.key_id, key.status]) };
}
const tombstone = { state: 'destroyed', keys: [] };

describe('DELETE /keys/{guid}', () => {
  it('deletes the key, proves it with the key itself, then leaves a tombstone without keys', async () => {
    const { key, keyId } = await provision('gone1');
    h.litellm.resetCounters();
    const kmsBefore = { encrypt: h.kms.callCount('Encrypt'), decrypt: h.kms.callCount('Decrypt') };

    const answer = await destroy('gone1');

    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      guid: 'gone1',
      litellm_target: 'default',
      litellm_key_alias: 'virtkey-gone1',
      litellm_key_aliases: ['virtkey-gone1'],
      deleted: true,
      was_missing: false,
      deleted_keys: 1,
      database_deleted_keys: 0,
      spend: [
        {
          litellm_key_alias: 'virtkey-gone1',
          litellm_key_id: keyId,
          spend: 0,
          period_spend: 0,
          ...(h.litellm.release.totalSpend ? { total_spend: 0 } : {}),
        },
      ],
      total_spend: 0,
      verification: [
        { litellm_key_alias: 'virtkey-gone1', litellm_key_id: keyId, verified_by: 'auth-probe' },
      ],
    });
    assert.deepEqual([...h.litellm.calls.entries()].sort(), [
      ['GET /v1/models', 1],
      ['POST /key/delete', 1],
      ['POST /v2/key/info', 1],
    ]);
    assert.deepEqual(
      {
        encrypt: h.kms.callCount('Encrypt') - kmsBefore.encrypt,
        decrypt: h.kms.callCount('Decrypt') - kmsBefore.decrypt,
      },
      { encrypt: 0, decrypt: 1 },
      'the value opened once, for its own probe',
    );
    assert.deepEqual(await holdersOf('virtkey-gone1'), []);
    const probe = await probeKey(h.litellm.url, key);
    assert.equal(probe.status, 401);
    assert.equal(probe.type, 'token_not_found_in_db');
    assert.deepEqual(await recorded('gone1'), tombstone);
    const { lab } = await h.ledger.lab('gone1');
    assert.deepEqual([lab?.destroyed_keys, lab?.total_spend], [1, 0]);
    const audit = await h.litellm.table.deletedRows();
    assert.deepEqual(
      audit.map((row) => [row.token, row.key_alias]),
      [[keyId, 'virtkey-gone1']],
    );
  });

  it('deletes, at the next destroy, a key whose held /key/generate LiteLLM applied after the lab was destroyed', async () => {
    // The first /key/generate hangs past the client's timeout; the retry makes the key.
    h.litellm.faults.failNext('POST /key/generate', 'hang');
    const { key, keyId } = await provision('held1');
    const row = await h.litellm.table.get(keyId);
    assert.equal((await destroy('held1')).status, 200);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    // Then LiteLLM applies the held request: the handed-out key works again.
    assert.ok(row);
    await h.litellm.table.restore(row);
    assert.equal((await probeKey(h.litellm.url, key)).status, 200);

    const again = await destroy('held1');

    assert.equal(again.status, 200);
    assert.equal(again.body.was_missing, true);
    assert.equal(again.body.late_keys_deleted, 1);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('held1'), tombstone);
    // The guid is free again: a new provision makes a new key, not a 409.
    const next = await provision('held1');
    assert.notEqual(next.key, key);
  });

  it('destroys a lab whose key value KMS will not open, checking the key gone by hash', async () => {
    const { key, keyId } = await provision('nokms1');
    h.kms.denyAll();

    const answer = await destroy('nokms1');

    h.kms.denyAll(false);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.deleted_keys, 1);
    assert.deepEqual(answer.body.verification, [
      { litellm_key_alias: 'virtkey-nokms1', litellm_key_id: keyId, verified_by: 'key-info' },
    ]);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('nokms1'), tombstone);
  });

  it('answers a second destroy with was_missing and deletes nothing', async () => {
    await provision('twice1');
    assert.equal((await destroy('twice1')).status, 200);
    h.litellm.resetCounters();

    const again = await destroy('twice1');

    assert.equal(again.status, 200);
    assert.equal(again.body.deleted, false);
    assert.equal(again.body.was_missing, true);
    assert.equal(again.body.deleted_keys, 0);
    assert.deepEqual(again.body.verification, []);
    assert.equal(h.litellm.mutatingCalls(), 0);
  });

  it('lets 10 concurrent destroys of one lab all succeed, with the key gone and the lab a tombstone', async () => {
    const { key } = await provision('race1');

    const answers = await Promise.all(Array.from({ length: 10 }, () => destroy('race1')));

    assert.deepEqual(
      answers.map((answer) => answer.status),
      Array(10).fill(200),
    );
    assert.ok(answers.some((answer) => answer.body.deleted === true));
    assert.deepEqual(await holdersOf('virtkey-race1'), []);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('race1'), tombstone);
  });

  it('makes at most 3 LiteLLM calls with 10,000 unrelated keys in LiteLLM', async () => {
    const now = Date.now();
    await h.litellm.table.insertMany(
      Array.from({ length: 10_000 }, (_, i) => ({
        token: sha256(`unrelated-${i}`),
        key_name: 'sk-...xxxx',
        key_alias: i % 3 === 0 ? `virtkey-other${i}` : null,
        expires: new Date(now + (i % 2 ? 1 : -1) * 86_400_000),
        models: [],
        metadata: i % 3 === 0 ? ourMetadata(`other${i}`) : {},
        user_id: null,
        max_budget: null,
        created_by: 'default_user_id',
      })),
    );
    await provision('busy1');
    h.litellm.resetCounters();

    const answer = await destroy('busy1');

    assert.equal(answer.status, 200);
    assert.equal(answer.body.deleted_keys, 1);
    assert.ok(h.litellm.callCount() <= 3, `LiteLLM calls: ${h.litellm.callCount()}`);
    assert.equal(await h.litellm.table.count(), 10_000);
  });

  it('deletes the recorded key, and leaves a key with our marker that nothing records alone, unreported', async () => {
    const { keyId } = await provision('dup1');
    const forged = await h.litellm.seedKey({
      alias: 'virtkey-dup1',
      expires: new Date(Date.now() + 86_400_000),
      metadata: ourMetadata('dup1'),
    });

    const answer = await destroy('dup1');

    assert.equal(answer.status, 200);
    assert.equal(answer.body.deleted_keys, 1);
    assert.deepEqual(
      ['unrecorded_keys', 'untouched_keys', 'late_keys_deleted'].filter((field) => field in answer.body),
      [],
    );
    assert.deepEqual(
      (await holdersOf('virtkey-dup1')).map((row) => row.token),
      [forged.token],
    );
    const checks = answer.body.verification as { litellm_key_id: string; verified_by: string }[];
    assert.deepEqual(
      checks.map((c) => [c.litellm_key_id, c.verified_by]),
      [[keyId, 'auth-probe']],
    );
    assert.deepEqual(await recorded('dup1'), tombstone);
  });

  it('destroying abc leaves abc1 and abc-x alone', async () => {
    const abc = await provision('abc');
    const abc1 = await provision('abc1');
    const abcX = await provision('abc-x');

    const answer = await destroy('abc');

    assert.equal(answer.status, 200);
    assert.equal((await probeKey(h.litellm.url, abc.key)).status, 401);
    assert.deepEqual(await recorded('abc'), tombstone);
    for (const [guid, survivor] of [
      ['abc1', abc1],
      ['abc-x', abcX],
    ] as const) {
      assert.equal((await probeKey(h.litellm.url, survivor.key)).status, 200, guid);
      assert.deepEqual(await recorded(guid), { state: 'active', keys: [[survivor.keyId, 'live']] }, guid);
    }
  });

  it('never touches a key under the alias that lacks our marker or belongs to another lab', async () => {
    const { keyId } = await provision('shared1');
    const stranger = await h.litellm.seedKey({
      alias: 'virtkey-shared1',
      expires: null,
      metadata: { team: 'platform' },
    });
    const otherLab = await h.litellm.seedKey({
      alias: 'virtkey-shared1',
      expires: null,
      metadata: ourMetadata('shared1-x'),
    });

    const answer = await destroy('shared1');

    assert.equal(answer.status, 200);
    assert.equal(answer.body.deleted_keys, 1);
    assert.equal('untouched_keys' in answer.body, false);
    assert.deepEqual(
      (await holdersOf('virtkey-shared1')).map((row) => row.token).sort(),
      [stranger.token, otherLab.token].sort(),
    );
    assert.equal(await h.litellm.table.get(keyId), undefined);
    h.litellm.resetCounters();
    const again = await destroy('shared1');
    assert.equal(again.body.was_missing, true);
    assert.equal(again.body.deleted_keys, 0);
    assert.equal(h.litellm.mutatingCalls(), 0);
    assert.equal((await holdersOf('virtkey-shared1')).length, 2);
  });

  it('answers 503 and keeps the key recorded while LiteLLM resets connections, then finishes on retry', async () => {
    const { key, keyId } = await provision('down1');
    h.litellm.faults.set({ resetRate: 1 });

    const failed = await destroy('down1');

    assert.equal(failed.status, 503);
    assert.equal(failed.headers['retry-after'], '30');
    assert.equal(failed.body.type, 'urn:litellm-virtual-keys:problem:unavailable');
    // LiteLLM did not answer the first read: nothing was announced, nothing deleted.
    assert.deepEqual(await recorded('down1'), { state: 'active', keys: [[keyId, 'live']] });
    h.litellm.faults.clear();
    assert.equal((await probeKey(h.litellm.url, key)).status, 200);

    const retried = await destroy('down1');

    assert.equal(retried.status, 200);
    assert.equal(retried.body.deleted_keys, 1);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('down1'), tombstone);
  });

  it('answers 503, never "deleted", when LiteLLM keeps answering 503 to the delete or the check', async () => {
    for (const endpoint of ['POST /v2/key/info', 'POST /key/delete', 'GET /v1/models']) {
      await h.reset();
      const { key, keyId } = await provision('down2');
      h.litellm.faults.set({ errorRate: 1, endpoints: [endpoint] });

      const answer = await destroy('down2');

      assert.equal(answer.status, 503, endpoint);
      assert.equal(answer.body.deleted, undefined, endpoint);
      // The deletion is announced once the first read has answered.
      const status = endpoint === 'POST /v2/key/info' ? 'live' : 'deleting';
      assert.deepEqual(await recorded('down2'), { state: 'active', keys: [[keyId, status]] }, endpoint);
      if (endpoint !== 'POST /key/delete') continue;
      h.litellm.faults.clear();
      assert.equal((await probeKey(h.litellm.url, key)).status, 200, 'the key was not deleted');
    }
  });

  it('recovers when the answer to /key/delete is lost', async () => {
    const { key } = await provision('lost1');
    h.litellm.faults.failNext('POST /key/delete', 'reset-after');

    const answer = await destroy('lost1');

    assert.equal(answer.status, 200);
    assert.equal(answer.body.deleted_keys, 1);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.equal(h.litellm.callCount('POST /key/delete'), 2);
  });

  it('keeps the lab recorded when its last ledger write fails, and a retry finishes with the key already gone', async () => {
    const { key, keyId } = await provision('ddbfail1');
    // The lab's final write (the tombstone) fails, the SDK's retry too; giving the lease back works.
    h.litellm.beforeNext('POST /key/delete', async () => h.ledger.failNext('PutItem', 2));

    const failed = await destroy('ddbfail1');

    assert.equal(failed.status, 503);
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('ddbfail1'), { state: 'active', keys: [[keyId, 'deleting']] });
    assert.equal((await h.ledger.lab('ddbfail1')).lab?.lease, undefined, 'the lease was given back');

    const retried = await destroy('ddbfail1');

    assert.equal(retried.status, 200);
    assert.equal(retried.body.was_missing, true);
    assert.equal(retried.body.deleted_keys, 0);
    assert.deepEqual(retried.body.verification, [
      { litellm_key_alias: 'virtkey-ddbfail1', litellm_key_id: keyId, verified_by: 'auth-probe' },
    ]);
    assert.deepEqual(await recorded('ddbfail1'), tombstone);
  });

  it('says so when a LiteLLM replica still accepts the deleted key from its auth cache', async () => {
    const { key, keyId } = await provision('cached1');
    h.litellm.faults.set({ replicaAuthCacheMs: 60_000 });
    assert.equal((await probeKey(h.litellm.url, key)).status, 200);

    const answer = await destroy('cached1');

    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.verification, [
      {
        litellm_key_alias: 'virtkey-cached1',
        litellm_key_id: keyId,
        verified_by: 'key-info',
        still_accepted_from_cache: true,
      },
    ]);
    assert.match(String(answer.body.note), /auth cache/);
    assert.equal(await h.litellm.table.get(keyId), undefined);
  });

  it('refuses a bad guid or an unknown query parameter with 400 and deletes nothing', async () => {
    await provision('keep1');
    for (const [guid, query, field] of [
      ['Keep1', undefined, 'guid'],
      ['keep1-', undefined, 'guid'],
      ['keep1', { force_db_delet: 'true' }, 'force_db_delet'],
      ['keep1', { force_db_delete: 'yes' }, 'force_db_delete'],
    ] as const) {
      const answer = await destroy(guid, query);
      assert.equal(answer.status, 400, `${guid} ${JSON.stringify(query)}`);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.deepEqual(
        (answer.body.errors as { field: string }[]).map((e) => e.field),
        [field],
      );
    }
    assert.equal(h.litellm.mutatingCalls(), 1);
    assert.equal((await holdersOf('virtkey-keep1')).length, 1);
  });
});

describe('a key the API delete leaves behind (sticky delete)', () => {
  it('is deleted from LiteLLM’s Postgres with an audit row, then verified gone', async () => {
    const { key, keyId } = await provision('sticky1');
    h.litellm.faults.set({ stickyDelete: true });

    const answer = await destroy('sticky1');

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.deleted_keys, 1);
    assert.equal(answer.body.database_deleted_keys, 1);
    assert.equal(await h.litellm.table.get(keyId), undefined);
    const audit = await h.litellm.table.db.query<{
      token: string;
      key_alias: string;
      deleted_at: string | null;
      deleted_by: string;
      metadata: Record<string, unknown>;
      id: string;
    }>(
      'SELECT id, token, key_alias, deleted_at::text AS deleted_at, deleted_by, metadata FROM "LiteLLM_DeletedVerificationToken"',
    );
    assert.equal(audit.length, 1);
    const [row] = audit;
    assert.equal(row?.token, keyId);
    assert.equal(row?.key_alias, 'virtkey-sticky1');
    assert.equal(row?.deleted_by, 'litellm-virtual-keys');
    assert.equal(row?.metadata.guid, 'sticky1');
    assert.match(String(row?.id), /^[0-9a-f-]{36}$/);
    assert.ok(
      row?.deleted_at && Math.abs(Date.parse(`${row.deleted_at}Z`) - Date.now()) < 60_000,
      row?.deleted_at ?? '',
    );
    assert.notEqual(await keyInfoState(h.litellm.url, MASTER_KEY, keyId), 'live');
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
    assert.deepEqual(await recorded('sticky1'), tombstone);
    assert.ok(
      logEntries().some(
        (entry) =>
          entry.message === 'deleted keys from LiteLLM’s database directly' && entry.guid === 'sticky1',
      ),
    );
  });

  it('is a 502 naming the survivor when the request opts out of direct deletion; the key stays recorded', async () => {
    const { keyId } = await provision('sticky2');
    h.litellm.faults.set({ stickyDelete: true });

    const answer = await destroy('sticky2', { force_db_delete: 'false' });

    assert.equal(answer.status, 502);
    assert.equal(answer.body.type, 'urn:litellm-virtual-keys:problem:litellm-error');
    assert.match(String(answer.body.detail), /virtkey-sticky2/);
    assert.match(String(answer.body.detail), new RegExp(keyId));
    assert.ok((await h.litellm.table.get(keyId)) !== undefined);
    assert.deepEqual(await recorded('sticky2'), { state: 'active', keys: [[keyId, 'deleting']] });
    assert.deepEqual(await h.litellm.table.deletedRows(), []);

    const retried = await destroy('sticky2', { force_db_delete: 'true' });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.database_deleted_keys, 1);
    assert.deepEqual(await recorded('sticky2'), tombstone);
  });

  it('is a 502 saying what is missing when the master-key secret has no database_url', async () => {
    h.secrets.replace(MASTER_KEY_SECRET_ID, JSON.stringify({ master_key: MASTER_KEY }));
    clearCache();
    try {
      const { keyId } = await provision('sticky4');
      h.litellm.faults.set({ stickyDelete: true });

      const answer = await destroy('sticky4');

      assert.equal(answer.status, 502);
      assert.match(String(answer.body.detail), /database_url/);
      assert.ok(await h.litellm.table.get(keyId));
    } finally {
      h.secrets.replace(
        MASTER_KEY_SECRET_ID,
        JSON.stringify({ master_key: MASTER_KEY, database_url: h.litellm.table.db.url }),
      );
      clearCache();
    }
  });

  it('only ever deletes rows that carry this lab’s marker', async () => {
    const answer = await invokeHttp(
      route.provision,
      postKeysEvent({ guid: 'sticky3', users: 2 }),
      lambdaContext(),
    );
    assert.equal(answer.status, 201);
    const [ours, stripped] = (answer.body.users as { litellm_virtual_key: string }[]).map((user) => {
      issued.add(user.litellm_virtual_key);
      return sha256(user.litellm_virtual_key);
    }) as [string, string];
    // A recorded key whose LiteLLM row no longer carries the lab's marker: not this service's to delete directly.
    await h.litellm.table.update(stripped, { metadata: { team: 'platform' } });
    h.litellm.faults.set({ stickyDelete: true });

    const destroyed = await destroy('sticky3');

    assert.equal(destroyed.status, 502);
    assert.match(String(destroyed.body.detail), new RegExp(`virtkey-sticky3-user2 \\(key id ${stripped}\\)`));
    assert.doesNotMatch(String(destroyed.body.detail), /virtkey-sticky3-user1/);
    assert.equal(await h.litellm.table.get(ours), undefined);
    assert.ok(await h.litellm.table.get(stripped));
    assert.deepEqual(
      (await h.litellm.table.deletedRows()).map((row) => row.token),
      [ours],
    );
    assert.deepEqual(await recorded('sticky3'), {
      state: 'active',
      keys: [
        [ours, 'deleting'],
        [stripped, 'deleting'],
      ],
    });
  });
});

describe('Lab Destroyed events', () => {
  it('destroys the lab, and a repeated event changes nothing', async () => {
    const { key } = await provision('ev1');

    const first = await route.destroy(
      labDestroyedEvent({ guid: 'ev1', source_system: 'babylon' }),
      lambdaContext(),
    );
    const repeat = await route.destroy(labDestroyedEvent({ guid: 'ev1' }), lambdaContext());

    assert.deepEqual(first, { outcome: 'destroyed', guid: 'ev1', deleted_keys: 1 });
    assert.deepEqual(repeat, { outcome: 'already-gone', guid: 'ev1', deleted_keys: 0 });
    assert.equal((await probeKey(h.litellm.url, key)).status, 401);
  });

  it('settles a bad detail without a retry, and throws when LiteLLM is down so Lambda retries', async () => {
    const rejected = await route.destroy(labDestroyedEvent({ guid: 'BAD GUID' }), lambdaContext());
    assert.deepEqual(Object.keys(rejected as object).sort(), ['detail', 'outcome', 'status']);
    assert.equal((rejected as { status: number }).status, 400);

    const { key } = await provision('ev2');
    h.litellm.faults.set({ errorRate: 1 });
    await assert.rejects(route.destroy(labDestroyedEvent({ guid: 'ev2' }), lambdaContext()), /unavailable/);
    h.litellm.faults.clear();
    assert.equal((await probeKey(h.litellm.url, key)).status, 200);
  });
});
