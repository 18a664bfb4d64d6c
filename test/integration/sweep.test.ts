import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Lab, labFromItem, labToItem } from '../../lib/ledger/lab-record.ts';
import { logEntries, metricLines } from '../support/checks/logs.ts';
import {
  deleteKeysEvent,
  extendKeysEvent,
  lambdaContext,
  postKeysEvent,
  sampleEvent,
  scheduledSweepEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { seedRecordedKeys } from '../support/fixtures/recorded-keys.ts';
import { type Handler, setKeyExpiry, useHarness } from '../support/harness.ts';

type Report = Record<string, unknown> & {
  scanned: number;
  managed: number;
  expired: number;
  deleted: number;
  failed: number;
  pending: number;
  already_gone: number;
  kept_extended: number;
  late_keys_deleted: number;
  expiry_warnings: number;
  stopped_early: boolean;
  reconciliation: Record<string, number | string | boolean> & {
    calls: number;
    unrecorded: number;
    closed: number;
  };
};

let sweepHandler: Handler;
const importSweep = async () => {
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
};
// Every LiteLLM failure reaches the sweep: no transport retries to hide them.
const { h, route, issued } = useHarness({ LITELLM_RETRIES: '0' }, { setUp: importSweep });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const ours = (guid: string, user?: string) => ({
  managed_by: 'litellm-virtual-keys',
  guid,
  ...(user ? { user } : {}),
  package: 'ai-developer',
});
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The sweep as Lambda runs it; `budgetMs` is the time left beyond the sweep's 20 s stop margin. */
function sweep(event: unknown = scheduledSweepEvent(), budgetMs = 120_000): Promise<Report> {
  return sweepHandler(event, lambdaContext(20_000 + budgetMs)) as Promise<Report>;
}

async function provision(guid: string): Promise<{ key: string; keyId: string; models: unknown }> {
  const answer = await invokeHttp(route.provision, postKeysEvent({ guid }), lambdaContext());
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const key = String(answer.body.litellm_virtual_key);
  issued.add(key);
  return { key, keyId: sha256(key), models: answer.body.litellm_available_models };
}

const extend = (guid: string, body: unknown, timeoutMs?: number) =>
  invokeHttp(route.extend, extendKeysEvent(guid, body), lambdaContext(timeoutMs));

async function tokensLeft(): Promise<Set<string>> {
  const rows = await h.litellm.table.db.query<{ token: string }>(
    'SELECT token FROM "LiteLLM_VerificationToken"',
  );
  return new Set(rows.map((row) => row.token));
}

/**
 * Rewrite a lab's ledger item through its declaration (as another request, or time passing,
 * would leave it), so the sweep's index follows.
 */
async function rewriteLab(guid: string, change: (lab: Lab) => Lab): Promise<void> {
  const { lab: item } = await h.ledger.lab(guid);
  assert.ok(item, `lab ${guid} is recorded`);
  await h.ledger.putItems([labToItem(change(labFromItem(item)))], 1);
}

/** Ledger writes of any kind: a dry run makes none. */
const ledgerWrites = () =>
  ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']
    .map((operation) => h.ledger.callCount(operation))
    .reduce((a, b) => a + b, 0);

/** Audit rows per token: LiteLLM writes one for each deletion, so a count of 2 is a double delete. */
async function deletionsPerToken(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const row of await h.litellm.table.deletedRows()) {
    counts.set(row.token, (counts.get(row.token) ?? 0) + 1);
  }
  return counts;
}

/**
 * Expired keys of ours (made by provision, so recorded with their sealed values), live keys of
 * ours, and every kind of key the sweep must leave alone, a key with our marker that nothing
 * records among them.
 */
async function mixedPopulation() {
  const expired = await Promise.all(['old1', 'old2', 'old3'].map((guid) => provision(guid)));
  const live = await Promise.all(['new1', 'new2'].map((guid) => provision(guid)));
  for (const [index, key] of expired.entries()) {
    await setKeyExpiry(h, `old${index + 1}`, key.keyId, new Date(Date.now() - 2 * HOUR));
  }
  const past = new Date(Date.now() - 5 * HOUR);
  const leftAlone = await Promise.all([
    h.litellm.seedKey({ alias: 'team-key-1', expires: past }),
    h.litellm.seedKey({ alias: null, expires: past, metadata: ours('noalias') }),
    h.litellm.seedKey({ alias: 'virtkey-fake1', expires: past }),
    // our marker, alias and guid, but no record and no stored value: forged, or lost
    h.litellm.seedKey({ alias: 'virtkey-forged1', expires: past, metadata: ours('forged1') }),
    h.litellm.seedKey({ alias: 'team-key-2', expires: null }),
  ]);
  return { expired, live, leftAlone };
}

describe('sweep', () => {
  it('deletes exactly the expired keys the ledger records, after a dry run that deletes nothing', async () => {
    const { expired, live, leftAlone } = await mixedPopulation();
    const before = await tokensLeft();
    h.litellm.resetCounters();
    h.ledger.resetCounters();
    const kmsCalls = h.kms.callCount();

    const dry = await sweep({ dry_run: true });

    assert.equal(dry.expired, 3);
    assert.equal(dry.deleted, 0);
    assert.deepEqual([...(dry.would_delete as string[])].sort(), [
      'virtkey-old1',
      'virtkey-old2',
      'virtkey-old3',
    ]);
    assert.equal(h.litellm.mutatingCalls(), 0);
    assert.equal(ledgerWrites(), 0, 'a dry run writes nothing to the ledger');
    assert.deepEqual(await tokensLeft(), before);

    const report = await sweep();

    assert.deepEqual(
      {
        expired: report.expired,
        deleted: report.deleted,
        failed: report.failed,
        already_gone: report.already_gone,
        kept_extended: report.kept_extended,
        pending: report.pending,
        late_keys_deleted: report.late_keys_deleted,
        deleted_by_package: report.deleted_by_package,
        unrecorded: report.reconciliation.unrecorded,
        stopped_early: report.stopped_early,
      },
      {
        expired: 3,
        deleted: 3,
        failed: 0,
        already_gone: 0,
        kept_extended: 0,
        pending: 0,
        late_keys_deleted: 0,
        deleted_by_package: { 'ai-developer': 3 },
        unrecorded: 1,
        stopped_early: false,
      },
    );
    const left = await tokensLeft();
    for (const key of expired) assert.ok(!left.has(key.keyId));
    for (const key of live) assert.ok(left.has(key.keyId));
    for (const key of leftAlone) assert.ok(left.has(key.token));
    for (const guid of ['old1', 'old2', 'old3']) {
      const recorded = await h.ledger.lab(guid);
      assert.deepEqual(recorded.keys, []);
      assert.equal(recorded.lab?.lab_state, 'expired');
    }
    for (const [index, guid] of ['new1', 'new2'].entries()) {
      const recorded = await h.ledger.lab(guid);
      assert.equal(recorded.lab?.lab_state, 'active');
      assert.deepEqual(
        recorded.keys.map((key) => [key.key_id, key.status]),
        [[live[index]?.keyId, 'live']],
      );
    }
    assert.equal(h.kms.callCount(), kmsCalls, 'the sweep never opens (or seals) a key value');
    assert.deepEqual([...(await deletionsPerToken()).keys()].sort(), expired.map((key) => key.keyId).sort());

    const line = logEntries().findLast((entry) => entry.message === 'swept');
    assert.equal(line?.deleted, 3);
    assert.equal(line?.trigger, 'schedule');
    const forged = logEntries().findLast((entry) =>
      String(entry.message).startsWith('a key with our marker'),
    );
    assert.equal(forged?.alias, 'virtkey-forged1');
    const swept = h.bus.of('Virtual Keys Swept').at(-1);
    assert.equal(swept?.source, 'litellm.virtual-keys');
    assert.equal(swept?.detail.deleted, 3);
    const emf = metricLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .findLast((m) => 'KeysExpired' in m);
    assert.deepEqual([emf?.KeysSwept, emf?.UnrecordedKeys, emf?.dry_run], [3, 1, 'false']);
  });

  it('never deletes a key with our marker that the ledger does not record (a forged marker)', async () => {
    const forged = await h.litellm.seedKey({
      alias: 'virtkey-victim1',
      expires: new Date(Date.now() - DAY),
      metadata: ours('victim1'),
    });

    const report = await sweep();

    assert.equal(report.expired, 0);
    assert.equal(report.deleted, 0);
    assert.equal(report.reconciliation.unrecorded, 1);
    assert.ok(await h.litellm.table.get(forged.token), 'left alone');
  });

  it('costs three LiteLLM calls per batch of up to a hundred labs, whatever else LiteLLM holds', async () => {
    await seedRecordedKeys(
      h,
      Array.from({ length: 250 }, (_, i) => ({ guid: `bulk${i}`, expires: new Date(Date.now() - HOUR - i) })),
    );
    await h.litellm.table.insertMany(
      Array.from({ length: 2000 }, (_, i) => ({
        token: sha256(`other-${i}`),
        key_name: 'sk-...xxxx',
        key_alias: `team-key-${i}`,
        expires: new Date(Date.now() + DAY),
        models: [],
        metadata: {},
        user_id: null,
        max_budget: null,
        created_by: 'default_user_id',
      })),
    );
    h.litellm.resetCounters();

    const report = await sweep();

    assert.equal(report.deleted, 250);
    // 250 labs due: batches of 100, 100 and 50, each read, deleted in one call and read back.
    assert.deepEqual(
      { reads: h.litellm.callCount('POST /v2/key/info'), deletes: h.litellm.callCount('POST /key/delete') },
      { reads: 2 * 3, deletes: 3 },
    );
    // The reconciliation's listing is all it adds: no live key of ours is left to look up.
    assert.equal(h.litellm.callCount('GET /key/list'), report.reconciliation.calls);
    assert.equal(h.litellm.callCount(), 3 * 3 + report.reconciliation.calls);
    assert.equal((await tokensLeft()).size, 2000);
  });

  it('keeps a key extended between its listing in the ledger and its deletion', async () => {
    const { keyId } = await provision('race1');
    await setKeyExpiry(h, 'race1', keyId, new Date(Date.now() - HOUR));
    let extended: Awaited<ReturnType<typeof extend>> | undefined;
    // The extend lands after the sweep read its index, right before it leases the lab.
    h.ledger.beforeNext('UpdateItem', async () => {
      extended = await extend('race1', { duration: '7d' });
    });

    const report = await sweep();

    assert.equal(extended?.status, 200, JSON.stringify(extended?.body));
    assert.equal(report.deleted, 0);
    assert.ok(await h.litellm.table.get(keyId), 'the extended key is kept');
    const recorded = await h.ledger.lab('race1');
    assert.equal(recorded.lab?.lab_state, 'active');
    assert.deepEqual(
      recorded.keys.map((key) => [key.key_id, key.status]),
      [[keyId, 'live']],
    );
    assert.ok(Date.parse(String(recorded.keys[0]?.expires_at)) > Date.now() + 6 * DAY, 'with its new expiry');
  });

  it('an extend that lands while the sweep deletes either keeps the key or says it is gone, never both', async () => {
    const { keyId } = await provision('race2');
    await setKeyExpiry(h, 'race2', keyId, new Date(Date.now() - HOUR));
    let extended: Promise<Awaited<ReturnType<typeof extend>>> | undefined;
    // The extend lands while the sweep holds the lab, right before LiteLLM deletes its key.
    h.litellm.beforeNext('POST /key/delete', async () => {
      extended = extend('race2', { duration: '7d' }, 8_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    });

    const report = await sweep();
    const answer = await extended;

    assert.equal(report.deleted, 1);
    assert.equal(await h.litellm.table.get(keyId), undefined);
    assert.equal(answer?.status, 404, JSON.stringify(answer?.body));
    assert.equal(answer?.body.type, 'urn:litellm-virtual-keys:problem:lab-not-found');
  });

  it('keeps a key LiteLLM shows extended outside the service, and records its new expiry', async () => {
    const { keyId } = await provision('outside1');
    await h.ledger.setExpiry('outside1', keyId, new Date(Date.now() - HOUR));

    const report = await sweep();

    assert.equal(report.kept_extended, 1);
    assert.equal(report.deleted, 0);
    const [entry] = (await h.ledger.lab('outside1')).keys;
    assert.ok(Date.parse(String(entry?.expires_at)) > Date.now() + 29 * DAY);
  });

  it('leaves a key a provision replaced after the sweep read the index, with its new value', async () => {
    const { keyId } = await provision('race9');
    await setKeyExpiry(h, 'race9', keyId, new Date(Date.now() - HOUR));
    let replaced: Awaited<ReturnType<typeof invokeHttp>> | undefined;
    // The provision replaces the expired key after the sweep read its index, before it leases the lab.
    h.ledger.beforeNext('UpdateItem', async () => {
      replaced = await invokeHttp(route.provision, postKeysEvent({ guid: 'race9' }), lambdaContext());
    });

    const report = await sweep();

    assert.equal(replaced?.status, 201);
    assert.equal(replaced?.body.replaced_expired_key, true);
    assert.equal(report.deleted, 0);
    const value = String(replaced?.body.litellm_virtual_key);
    issued.add(value);
    assert.ok(await h.litellm.table.get(sha256(value)));
    assert.equal(await h.litellm.table.get(keyId), undefined, 'the expired key made room');
    const recorded = await h.ledger.lab('race9');
    assert.equal(recorded.lab?.lab_state, 'active');
    assert.deepEqual(
      recorded.keys.map((key) => [key.key_id, key.status]),
      [[sha256(value), 'live']],
    );
    assert.ok(!String(recorded.keys[0]?.sealed).includes(value), 'the value is recorded sealed');
  });

  it('makes a provision wait for a sweep that holds the lab’s expired key, then make a new one', async () => {
    const { key, keyId } = await provision('race8');
    await setKeyExpiry(h, 'race8', keyId, new Date(Date.now() - HOUR));
    let replaced: Promise<Awaited<ReturnType<typeof invokeHttp>>> | undefined;
    // The provision arrives while the sweep holds the lab, as LiteLLM deletes its key.
    h.litellm.beforeNext('POST /key/delete', async () => {
      replaced = invokeHttp(route.provision, postKeysEvent({ guid: 'race8' }), lambdaContext());
      await new Promise((resolve) => setTimeout(resolve, 100));
    });

    const report = await sweep();
    const answer = await replaced;

    assert.equal(report.deleted, 1);
    assert.equal(answer?.status, 201, JSON.stringify(answer?.body));
    const value = String(answer?.body.litellm_virtual_key);
    issued.add(value);
    assert.notEqual(value, key);
    assert.ok(await h.litellm.table.get(sha256(value)));
    const recorded = await h.ledger.lab('race8');
    assert.equal(recorded.lab?.lab_state, 'active');
    assert.deepEqual(
      recorded.keys.map((entry) => [entry.key_id, entry.status]),
      [[sha256(value), 'live']],
      'the new key is recorded, not swept',
    );
  });

  it('deletes a key a destroy deleted whose /key/generate LiteLLM applied late, once its recheck is due', async () => {
    const { keyId } = await provision('late1');
    const row = await h.litellm.table.get(keyId);
    const createdAt = String((await h.ledger.lab('late1')).keys[0]?.created_at);
    const destroyed = await invokeHttp(route.destroy, deleteKeysEvent('late1'), lambdaContext());
    assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
    assert.equal(await h.litellm.table.get(keyId), undefined);
    const tombstone = await h.ledger.lab('late1');
    assert.equal(tombstone.lab?.lab_state, 'destroyed');
    // The destroyed key is looked for again until its /key/generate is an hour (RECONCILE_GRACE) old.
    assert.deepEqual(tombstone.lab?.rechecks, [
      {
        alias: 'virtkey-late1',
        target: 'default',
        key_id: keyId,
        until: new Date(Date.parse(createdAt) + HOUR).toISOString(),
      },
    ]);
    // LiteLLM applies the key's /key/generate late: the same row again.
    assert.ok(row);
    await h.litellm.table.restore(row);
    assert.ok(await h.litellm.table.get(keyId), 'the late key is live');
    // Time passes: the recheck's grace ends, and the lab is due.
    await rewriteLab('late1', (lab) => ({
      ...lab,
      rechecks: lab.rechecks.map((recheck) => ({
        ...recheck,
        until: new Date(Date.now() - HOUR).toISOString(),
      })),
    }));

    const report = await sweep();

    assert.equal(await h.litellm.table.get(keyId), undefined, 'the late key is deleted');
    assert.deepEqual(
      {
        late_keys_deleted: report.late_keys_deleted,
        expired: report.expired,
        deleted: report.deleted,
        failed: report.failed,
      },
      { late_keys_deleted: 1, expired: 0, deleted: 0, failed: 0 },
    );
    const after = await h.ledger.lab('late1');
    assert.equal(after.lab?.lab_state, 'destroyed');
    assert.deepEqual(after.lab?.rechecks, [], 'looked for once its grace ended, then no more');
    assert.deepEqual(after.keys, []);
    assert.equal((await deletionsPerToken()).get(keyId), 2, 'deleted by the destroy, then by the sweep');

    const rerun = await sweep();
    assert.equal(rerun.late_keys_deleted, 0);
  });

  it('passes over a lab another request holds (its lease unexpired), deleting nothing, until it is free', async () => {
    const { keyId } = await provision('busy1');
    await setKeyExpiry(h, 'busy1', keyId, new Date(Date.now() - HOUR));
    // An extend (say) holds the lab: it may be announcing a new expiry the sweep has not read.
    const lease = { owner: 'litellm-virtual-keys-extend:another-request', until: Date.now() + 10 * 60_000 };
    await rewriteLab('busy1', (lab) => ({ ...lab, lease }));
    h.litellm.resetCounters();

    const report = await sweep();

    assert.deepEqual(
      {
        expired: report.expired,
        deleted: report.deleted,
        pending: report.pending,
        failed: report.failed,
        stopped_early: report.stopped_early,
      },
      { expired: 0, deleted: 0, pending: 1, failed: 0, stopped_early: true },
    );
    assert.equal(h.litellm.callCount('POST /key/delete'), 0);
    assert.ok(await h.litellm.table.get(keyId), 'the key is left alone');
    const held = await h.ledger.lab('busy1');
    assert.deepEqual(held.lab?.lease, lease, 'the holder’s lease is untouched');
    assert.deepEqual(
      held.keys.map((key) => [key.key_id, key.status]),
      [[keyId, 'live']],
    );

    // Once the holder gives the lease back, the next run deletes the key.
    await rewriteLab('busy1', (lab) => ({ ...lab, lease: undefined }));
    const free = await sweep();
    assert.deepEqual([free.deleted, free.pending, free.stopped_early], [1, 0, false]);
    assert.equal(await h.litellm.table.get(keyId), undefined);
  });

  it('counts a batch LiteLLM refuses and goes on with the others; the next run deletes it', async () => {
    await seedRecordedKeys(
      h,
      Array.from({ length: 300 }, (_, i) => ({ guid: `ref${i}`, expires: new Date(Date.now() - HOUR) })),
    );
    h.litellm.faults.failNext('POST /key/delete', '503');

    const report = await sweep();

    assert.equal(report.expired, 300);
    assert.ok(report.failed > 0 && report.failed <= 100, `${report.failed} failed`);
    assert.equal(report.deleted, 300 - report.failed);
    assert.equal((await tokensLeft()).size, report.failed, 'the refused batch is still there');
    const warning = logEntries().findLast((entry) => entry.message === 'sweep batch not deleted');
    assert.equal(warning?.keys, report.failed);

    const rerun = await sweep();
    assert.equal(rerun.deleted, report.failed);
    assert.equal((await tokensLeft()).size, 0);
  });

  it('refuses a manual invoke it does not understand, deleting nothing', async () => {
    await seedRecordedKeys(h, [{ guid: 'man1', expires: new Date(Date.now() - HOUR) }]);

    const answer = (await sweep({ dryRun: true })) as unknown as Record<string, unknown>;

    assert.equal(answer.outcome, 'rejected');
    assert.equal(answer.status, 400);
    assert.equal((await tokensLeft()).size, 1);
    assert.equal(h.litellm.callCount(), 0);
  });

  it('takes the sample manual invoke as a dry run', async () => {
    await seedRecordedKeys(h, [{ guid: 'man2', expires: new Date(Date.now() - HOUR) }]);

    const report = await sweep(sampleEvent('invoke-sweep-dry-run.json'));

    assert.equal(report.dry_run, true);
    assert.equal(report.expired, 1);
    assert.equal((await tokensLeft()).size, 1);
    assert.equal(h.bus.of('Virtual Keys Swept').at(-1)?.detail.trigger, 'manual');
  });
});

describe('sweep at scale and under faults', () => {
  it('6,000 recorded keys, a quarter expired: a short run stops early, the next finishes, nothing twice', async () => {
    const keys = await seedRecordedKeys(
      h,
      Array.from({ length: 6_000 }, (_, i) => ({
        guid: `pop${i}`,
        expires: new Date(i % 4 === 0 ? Date.now() - HOUR - i : Date.now() + 2 * DAY + i),
      })),
    );
    const expiredTokens = new Set(keys.filter((_, i) => i % 4 === 0).map((key) => key.keyId));

    const short = await sweep(undefined, 500);

    assert.equal(short.stopped_early, true);
    assert.ok(short.deleted > 0 && short.deleted < 1_500, `first run deleted ${short.deleted}`);
    assert.equal(short.failed, 0);

    const rest = await sweep();

    assert.equal(rest.stopped_early, false);
    assert.equal(rest.failed, 0);
    assert.equal(short.deleted + rest.deleted, 1_500);
    const left = await tokensLeft();
    assert.equal(left.size, 4_500);
    for (const token of expiredTokens) assert.ok(!left.has(token));
    const deletions = await deletionsPerToken();
    assert.equal(deletions.size, 1_500);
    assert.ok(
      [...deletions.values()].every((n) => n === 1),
      'no key deleted twice',
    );
  });

  it('20% 5xx: reruns delete every expired key of ours, and each report tells the truth', async () => {
    await seedRecordedKeys(
      h,
      Array.from({ length: 2_000 }, (_, i) => ({
        guid: `flk${i}`,
        expires: new Date(Date.now() + (i % 2 === 0 ? -HOUR : 2 * DAY)),
      })),
    );
    h.litellm.faults.set({ errorRate: 0.2 }, 7);
    let totalFailed = 0;
    let totalDeleted = 0;
    for (let run = 1; run <= 15; run++) {
      const before = (await tokensLeft()).size;
      const report = await sweep();
      const gone = before - (await tokensLeft()).size;
      // A batch whose read back failed counts as failed, though LiteLLM may have deleted it.
      assert.ok(
        gone >= report.deleted && gone <= report.deleted + report.failed,
        `run ${run}: deleted is exact`,
      );
      assert.equal(
        report.expired,
        report.deleted + report.failed + report.pending + report.already_gone + report.kept_extended,
        `run ${run}: every expired key is accounted for`,
      );
      totalFailed += report.failed;
      totalDeleted += report.deleted + report.already_gone;
      if (report.expired === 0 && !report.stopped_early) break;
    }
    // A key whose read back failed in one run is found gone (already_gone) by the next.
    assert.equal(totalDeleted, 1_000);
    assert.ok(totalFailed > 0, 'some batches failed along the way');
    assert.equal((await tokensLeft()).size, 1_000);
    assert.ok([...(await deletionsPerToken()).values()].every((n) => n === 1));
  });
});

describe('expiry warnings', () => {
  it('sends one Virtual Key Expiring per key and expiry, never opening a value, and again after an extension', async () => {
    const soon = await provision('soon1');
    const alsoSoon = await provision('soon2');
    const later = await provision('later1');
    await setKeyExpiry(h, 'soon1', soon.keyId, new Date(Date.now() + 2 * HOUR));
    await setKeyExpiry(h, 'soon2', alsoSoon.keyId, new Date(Date.now() + 3 * HOUR));
    await setKeyExpiry(h, 'later1', later.keyId, new Date(Date.now() + 72 * HOUR));
    const kmsCalls = h.kms.callCount();

    const first = await sweep();

    assert.equal(first.expiry_warnings, 2);
    const warnings = h.bus.of('Virtual Key Expiring');
    assert.deepEqual(warnings.map((w) => w.detail.guid).sort(), ['soon1', 'soon2']);
    const warning = warnings.find((w) => w.detail.guid === 'soon1');
    assert.equal(warning?.source, 'litellm.virtual-keys');
    assert.equal(warning?.detail.litellm_key_alias, 'virtkey-soon1');
    assert.deepEqual(
      warning?.detail.litellm_key_aliases,
      ['virtkey-soon1'],
      'the fields every lab event carries',
    );
    assert.deepEqual(warning?.detail.litellm_available_models, soon.models);
    assert.equal(warning?.detail.litellm_key_id, soon.keyId);
    assert.match(String(warning?.detail.litellm_key_expires), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(!warning?.raw.includes(soon.key));
    assert.equal(h.kms.callCount(), kmsCalls, 'no value is opened to warn of its expiry');
    const [warned] = (await h.ledger.lab('soon1')).keys;
    assert.equal(warned?.warned_expiry, warned?.expires_at, 'the warning is recorded on the key');

    const second = await sweep();
    assert.equal(second.expiry_warnings, 0);
    assert.equal(h.bus.of('Virtual Key Expiring').length, 2);

    await setKeyExpiry(h, 'soon1', soon.keyId, new Date(Date.now() + 5 * HOUR));
    const third = await sweep();
    assert.equal(third.expiry_warnings, 1);
    assert.deepEqual(
      h.bus
        .of('Virtual Key Expiring')
        .slice(2)
        .map((w) => w.detail.guid),
      ['soon1'],
    );
  });

  it('a warning that could not be sent is sent by the next run', async () => {
    const soon = await provision('soon3');
    await setKeyExpiry(h, 'soon3', soon.keyId, new Date(Date.now() + HOUR));
    h.bus.failNextEntries(1);

    const failed = await sweep();
    assert.equal(failed.expiry_warnings, 0);
    assert.equal((await h.ledger.lab('soon3')).keys[0]?.warned_expiry, undefined);

    const retried = await sweep();
    assert.equal(retried.expiry_warnings, 1);
    assert.equal(h.bus.of('Virtual Key Expiring').length, 1);
  });
});

describe('reconciliation', () => {
  it('deletes nothing when LiteLLM comes back empty (a wrong URL, a restored database)', async () => {
    const labs = await Promise.all(['emp1', 'emp2', 'emp3'].map((guid) => provision(guid)));
    await h.litellm.table.truncate();

    const report = await sweep();

    assert.equal(report.reconciliation.closed, 0);
    assert.match(String(report.reconciliation.breaker), /LiteLLM/);
    for (const [index, guid] of ['emp1', 'emp2', 'emp3'].entries()) {
      const recorded = await h.ledger.lab(guid);
      assert.equal(recorded.lab?.lab_state, 'active', `${guid} still active`);
      assert.deepEqual(
        recorded.keys.map((key) => [key.key_id, key.status]),
        [[labs[index]?.keyId, 'live']],
        `${guid} still recorded`,
      );
    }
  });

  it('closes a recorded key deleted outside the service; the next provision makes a new key', async () => {
    const labs = await Promise.all(['cls1', 'cls2'].map((guid) => provision(guid)));
    await h.litellm.table.deleteWithAudit([labs[0]?.keyId ?? ''], 'operator', 'x');

    const report = await sweep();

    assert.equal(report.reconciliation.closed, 1);
    const closed = await h.ledger.lab('cls1');
    assert.deepEqual(closed.keys, []);
    assert.equal(closed.lab?.lab_state, 'expired');
    const kept = await h.ledger.lab('cls2');
    assert.deepEqual(
      kept.keys.map((key) => [key.key_id, key.status]),
      [[labs[1]?.keyId, 'live']],
    );
    assert.equal(kept.lab?.lab_state, 'active');

    const again = await invokeHttp(route.provision, postKeysEvent({ guid: 'cls1' }), lambdaContext());
    assert.equal(again.status, 201, JSON.stringify(again.body));
    const value = String(again.body.litellm_virtual_key);
    issued.add(value);
    assert.notEqual(sha256(value), labs[0]?.keyId, 'never the deleted key');
    assert.ok(await h.litellm.table.get(sha256(value)));
    // The closed key is looked for again until it would have expired: should it come back, it goes.
    assert.deepEqual(
      closed.lab?.rechecks && (closed.lab.rechecks as { key_id: string }[]).map((recheck) => recheck.key_id),
      [labs[0]?.keyId],
    );
  });

  it('closes nothing when more than a tenth of the recorded keys are gone at once (a proxy restored from an older backup)', async () => {
    const seeded = await seedRecordedKeys(
      h,
      Array.from({ length: 40 }, (_, index) => ({
        guid: `rst${index}`,
        expires: new Date(Date.now() + 30 * 86_400_000),
      })),
    );
    await h.litellm.table.deleteWithAudit(
      seeded.slice(0, 6).map((key) => key.keyId),
      'operator',
      'x',
    );

    const report = await sweep();

    assert.equal(report.reconciliation.closed, 0);
    assert.match(String(report.reconciliation.breaker), /6 of 40 keys .* more than a tenth/);
    for (const key of seeded.slice(0, 6))
      assert.equal((await h.ledger.lab(key.guid)).keys[0]?.status, 'live', `${key.guid} still recorded`);
  });
});
