import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logEntries } from '../support/checks/logs.ts';
import {
  asClient,
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, useHarness } from '../support/harness.ts';

let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
// The cut-over window is open; the sample events' client `rhdp` and `lab-team` may take labs over.
const { h, route, issued } = useHarness(
  {
    ROLE_KEYS_TAKEOVER_UNTIL: '2099-01-01T00:00:00Z',
    ROLE_KEYS_TAKEOVER_CLIENTS: 'rhdp, lab-team',
    FORCE_DB_DELETE: 'true',
  },
  { setUp: importSweep },
);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MODELS = ['granite-3-2-8b-instruct', 'mistral-7b-instruct'];

/** A key as the Ansible role made it: its alias, and the metadata it wrote (no marker of ours). */
async function roleKey(
  guid: string,
  options: { user?: string; expiresIn?: number; metadata?: Record<string, string> } = {},
) {
  const seeded = await h.litellm.seedKey({
    alias: options.user ? `virtkey-${guid}-${options.user}` : `virtkey-${guid}`,
    expires: new Date(Date.now() + (options.expiresIn ?? 30 * DAY)),
    models: MODELS,
    userId: options.user ? `${options.user}@lab.opentlc.com` : `${guid}@lab.opentlc.com`,
    metadata: {
      guid,
      ...(options.user ? { user: options.user, user_number: options.user.replace(/\D/g, '') } : {}),
      models: MODELS.join(','),
      duration: '30d',
      models_count: '2',
      created_by: 'babylon',
      environment: 'sandbox',
      catalog_item: 'ai-lab',
      ...options.metadata,
    },
  });
  issued.add(seeded.raw);
  return seeded;
}

const holders = async (alias: string) => (await h.litellm.table.list({ key_alias: alias }, 1, 100)).rows;
const destroy = (guid: string) => invokeHttp(route.destroy, deleteKeysEvent(guid), lambdaContext());
const extend = (guid: string, body: unknown) =>
  invokeHttp(route.extend, extendKeysEvent(guid, body), lambdaContext());
const status = (guid: string) => invokeHttp(route.status, getKeysEvent(guid), lambdaContext());
const takeovers = (guid: string) =>
  logEntries().filter(
    (entry) => entry.message === 'took over the keys the Ansible role made' && entry.guid === guid,
  );
const sweep = (input: unknown) =>
  sweepHandler(input, lambdaContext(140_000)) as Promise<Record<string, unknown>>;

describe('keys the Ansible role made, during the cut-over window', () => {
  it('destroy takes a single-user lab over, records it, logs it and deletes its key', async () => {
    const { token } = await roleKey('role1');

    const answer = await destroy('role1');

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.deleted, true);
    assert.equal(answer.body.was_missing, false);
    assert.equal(answer.body.deleted_keys, 1);
    assert.deepEqual(await holders('virtkey-role1'), []);
    const { lab } = await h.ledger.lab('role1');
    assert.equal(lab?.role_made, true);
    assert.equal(lab?.client, 'rhdp');
    assert.equal(lab?.lab_state, 'destroyed');
    const [line] = takeovers('role1');
    assert.deepEqual(
      { client: line?.client, target: line?.target, aliases: line?.aliases },
      { client: 'rhdp', target: 'default', aliases: ['virtkey-role1'] },
    );
    assert.ok(!JSON.stringify(line).includes(token), 'the log names the key by alias only');
  });

  it('extend takes a 3-user lab over and gives every user’s key the new term', async () => {
    for (const user of ['user1', 'user2', 'user3']) await roleKey('role2', { user, expiresIn: DAY });

    const answer = await extend('role2', { duration: '7d' });

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const soon = Date.now() + 7 * DAY;
    for (const user of ['user1', 'user2', 'user3']) {
      const [row] = await holders(`virtkey-role2-${user}`);
      const expires = new Date(String(row?.expires)).getTime();
      assert.ok(Math.abs(expires - soon) < HOUR, `${user}'s key lasts 7 days from now`);
      assert.equal(row?.metadata?.created_by, 'babylon', 'nothing but the term changed');
    }
    assert.deepEqual(takeovers('role2')[0]?.aliases, [
      'virtkey-role2-user1',
      'virtkey-role2-user2',
      'virtkey-role2-user3',
    ]);
  });

  it('status takes a lab over once and lists its keys without values, even for read-key', async () => {
    await roleKey('role3');

    const first = await status('role3');
    const again = await status('role3');

    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(again.body, first.body);
    assert.equal(first.body.role_made, true);
    const keys = first.body.keys as Record<string, unknown>[];
    assert.deepEqual(
      keys.map((key) => [key.litellm_key_alias, key.litellm_available_models, 'litellm_virtual_key' in key]),
      [['virtkey-role3', MODELS, false]],
    );
    assert.equal(takeovers('role3').length, 1, 'taken over by the first call only');
  });

  it('is taken over once when two destroys of it race: one deletes, the other finds it destroyed', async () => {
    await roleKey('race1', { user: 'user1' });
    await roleKey('race1', { user: 'user2' });

    const answers = await Promise.all([destroy('race1'), destroy('race1')]);

    assert.deepEqual(
      answers.map((answer) => answer.status),
      [200, 200],
      JSON.stringify(answers.map((answer) => answer.body)),
    );
    assert.deepEqual(answers.map((answer) => answer.body.deleted_keys).sort(), [0, 2]);
    assert.equal(takeovers('race1').length, 1);
    assert.deepEqual([await holders('virtkey-race1-user1'), await holders('virtkey-race1-user2')], [[], []]);
  });

  it('hands out no value: a provision of a taken-over lab is refused, and the lab stays as it was', async () => {
    await roleKey('role4');
    assert.equal((await status('role4')).status, 200);

    const answer = await invokeHttp(
      route.provision,
      postKeysEvent({ guid: 'role4', models: MODELS, duration: '30d' }),
      lambdaContext(),
    );

    assert.equal(answer.status, 409, JSON.stringify(answer.body));
    assert.equal((await holders('virtkey-role4')).length, 1);
  });

  it('takes a lab over at its provision too, and refuses it: the role’s keys stay the lab’s, nothing is made', async () => {
    await roleKey('role9', { user: 'user1' });

    const answer = await invokeHttp(
      route.provision,
      postKeysEvent({ guid: 'role9', package: 'ai-developer' }),
      lambdaContext(),
    );

    assert.equal(answer.status, 409, JSON.stringify(answer.body));
    assert.match(String(answer.body.type), /role-made-key$/);
    assert.deepEqual(await holders('virtkey-role9'), [], 'no key of ours was made');
    assert.deepEqual(takeovers('role9')[0]?.aliases, ['virtkey-role9-user1']);
    const destroyed = await destroy('role9');
    assert.deepEqual([destroyed.status, destroyed.body.deleted_keys], [200, 1]);
  });

  it('belongs to the client that took it over; a client outside the window’s list takes nothing', async () => {
    await roleKey('role5');
    const scopes = ['provision', 'read', 'destroy', 'extend'];

    const reader = await invokeHttp(
      route.status,
      asClient(getKeysEvent('role5'), 'lab-team', ['read', 'read-key']),
      lambdaContext(),
    );
    assert.equal(reader.status, 404, 'a listed client that cannot destroy takes nothing over');
    const outsider = await invokeHttp(
      route.destroy,
      asClient(deleteKeysEvent('role5'), 'other', scopes),
      lambdaContext(),
    );
    assert.equal(outsider.status, 404, JSON.stringify(outsider.body));
    assert.equal((await holders('virtkey-role5')).length, 1);
    assert.equal((await h.ledger.lab('role5')).lab?.role_made, undefined);

    assert.equal(
      (await invokeHttp(route.status, asClient(getKeysEvent('role5'), 'lab-team', scopes), lambdaContext()))
        .status,
      200,
    );
    const another = await invokeHttp(
      route.destroy,
      asClient(deleteKeysEvent('role5'), 'other', scopes),
      lambdaContext(),
    );
    assert.equal(another.status, 404);
    assert.equal((await h.ledger.lab('role5')).lab?.client, 'lab-team');
  });

  it('leaves alone keys whose metadata claims another guid, keys another tool made, and our own marker', async () => {
    await roleKey('role6', { metadata: { guid: 'elsewhere' } });
    await roleKey('role7', { metadata: { created_by: 'some-other-tool' } });
    await roleKey('role8', { metadata: { managed_by: 'litellm-virtual-keys' } });

    for (const guid of ['role6', 'role7', 'role8']) {
      const answer = await destroy(guid);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.was_missing, true, guid);
      assert.equal((await holders(`virtkey-${guid}`)).length, 1, `${guid}'s key is untouched`);
    }
    assert.equal((await extend('role6', { duration: '7d' })).status, 404);
  });

  it('takes over a lab whose destroy by a client outside the window found nothing, at the next destroy', async () => {
    await roleKey('role10');
    const outside = await invokeHttp(
      route.destroy,
      asClient(deleteKeysEvent('role10'), 'event:rhdp.lab', ['destroy', 'all-labs']),
      lambdaContext(),
    );
    assert.deepEqual([outside.status, outside.body.was_missing], [200, true]);
    assert.equal((await holders('virtkey-role10')).length, 1, 'the key outlives the first destroy');

    const answer = await destroy('role10');

    assert.deepEqual([answer.status, answer.body.deleted_keys], [200, 1], JSON.stringify(answer.body));
    assert.deepEqual(await holders('virtkey-role10'), []);
  });

  it('deletes a role-made key the API leaves behind straight from LiteLLM’s database, with an audit row', async () => {
    const { token } = await roleKey('role11');
    h.litellm.faults.set({ stickyDelete: true });

    const answer = await invokeHttp(
      route.destroy,
      deleteKeysEvent('role11', { force_db_delete: 'true' }),
      lambdaContext(),
    );

    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual([answer.body.deleted_keys, answer.body.database_deleted_keys], [1, 1]);
    assert.equal(await h.litellm.table.get(token), undefined);
    const rows = await h.litellm.table.db.query<{ token: string; deleted_by: string }>(
      'SELECT token, deleted_by FROM "LiteLLM_DeletedVerificationToken" WHERE token = $1',
      [token],
    );
    assert.deepEqual(rows, [{ token, deleted_by: 'litellm-virtual-keys' }]);
  });

  it('finds every user of a lab, past a missing number within a batch, ten lookups at a time', async () => {
    for (const user of ['user1', 'user2', 'user4', 'user12']) await roleKey('role12', { user });

    const answer = await destroy('role12');

    assert.deepEqual([answer.status, answer.body.deleted_keys], [200, 4], JSON.stringify(answer.body));
  });

  it('the role-made sweep records a lab’s live keys too: its destroy deletes the one the role had extended', async () => {
    await roleKey('mixed1', { user: 'user1', expiresIn: 20 * DAY });
    await roleKey('mixed1', { user: 'user2', expiresIn: -2 * DAY });
    await roleKey('mixed1', { user: 'user3', expiresIn: -2 * DAY });

    const real = (await sweep({ role_made: true })).role_made as Record<string, unknown>;

    assert.deepEqual([real.taken_over, real.deleted], [1, 2]);
    assert.equal((await holders('virtkey-mixed1-user1')).length, 1, 'the live key is kept');
    assert.deepEqual(
      (await h.ledger.lab('mixed1')).keys.map((key) => key.alias),
      ['virtkey-mixed1-user1'],
      'and recorded',
    );
    const destroyed = await destroy('mixed1');
    assert.deepEqual([destroyed.status, destroyed.body.deleted_keys], [200, 1]);
    assert.deepEqual(await holders('virtkey-mixed1-user1'), []);
  });

  it('the role-made sweep lists exactly the expired role-made keys, then deletes them, and a later destroy finds the lab', async () => {
    await roleKey('gone1', { expiresIn: -2 * DAY });
    await roleKey('gone2', { user: 'user1', expiresIn: -3 * DAY });
    await roleKey('gone2', { user: 'user2', expiresIn: -3 * DAY });
    await roleKey('alive1', { expiresIn: 5 * DAY });
    await roleKey('forged1', { expiresIn: -2 * DAY, metadata: { guid: 'other1' } });
    await roleKey('tool1', { expiresIn: -2 * DAY, metadata: { created_by: 'some-other-tool' } });
    const unrelated = await h.litellm.seedKey({ alias: 'team-key', expires: new Date(Date.now() - DAY) });
    issued.add(unrelated.raw);

    const dry = (await sweep({ role_made: true, dry_run: true })).role_made as Record<string, unknown>;

    assert.deepEqual(dry.would_delete, ['virtkey-gone1', 'virtkey-gone2-user1', 'virtkey-gone2-user2']);
    assert.deepEqual(
      { expired: dry.expired, labs: dry.labs, deleted: dry.deleted },
      { expired: 3, labs: 2, deleted: 0 },
    );
    assert.equal((await holders('virtkey-gone1')).length, 1, 'a dry run deletes nothing');
    assert.equal((await h.ledger.lab('gone1')).lab, undefined, 'and records nothing');

    const real = (await sweep({ role_made: true })).role_made as Record<string, unknown>;

    assert.deepEqual(
      {
        taken_over: real.taken_over,
        deleted: real.deleted,
        failed: real.failed,
        would_delete: real.would_delete,
      },
      { taken_over: 2, deleted: 3, failed: 0, would_delete: undefined },
    );
    for (const alias of ['virtkey-gone1', 'virtkey-gone2-user1', 'virtkey-gone2-user2'])
      assert.deepEqual(await holders(alias), [], `${alias} is deleted`);
    for (const alias of ['virtkey-alive1', 'virtkey-forged1', 'virtkey-tool1', 'team-key'])
      assert.equal((await holders(alias)).length, 1, `${alias} is untouched`);
    assert.equal((await h.ledger.lab('gone1')).lab?.role_made, true);
    assert.equal((await h.ledger.lab('gone1')).lab?.client, undefined, 'no client owns it until one asks');

    const later = await destroy('gone1');
    assert.equal(later.status, 200, JSON.stringify(later.body));
    assert.equal(later.body.deleted_keys, 0);
    assert.equal((await h.ledger.lab('gone1')).lab?.client, 'rhdp');
  });
});
