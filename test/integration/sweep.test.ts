import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Context } from 'aws-lambda';
import { lambdaContext, postKeysEvent, sampleEvent, scheduledSweepEvent } from '../support/events.ts';
import { closeAndCheck, type Harness, startHarness } from '../support/harness.ts';
import { invokeHttp } from '../support/http.ts';
import type { NewKey } from '../support/litellm/key-table.ts';
import { logEntries, metricLines } from '../support/logs.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
type Report = Record<string, unknown> & {
  scanned: number;
  managed: number;
  expired: number;
  deleted: number;
  failed: number;
  pending: number;
  already_gone: number;
  stopped_early: boolean;
};

let h: Harness;
let provisionHandler: Handler;
let sweepHandler: Handler;
const issuedToCallers = new Set<string>();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const secretName = (alias: string) => `litellm-virtual-keys/${alias}`;
const ours = (guid: string, user?: string) => ({
  managed_by: 'litellm-virtual-keys',
  guid,
  ...(user ? { user } : {}),
  package: 'ai-developer',
});
const HOUR = 3_600_000;

/** The sweep as Lambda runs it; `budgetMs` is the time left beyond the sweep's 20 s stop margin. */
function sweep(event: unknown = scheduledSweepEvent(), budgetMs = 120_000): Promise<Report> {
  return sweepHandler(event, lambdaContext(20_000 + budgetMs)) as Promise<Report>;
}

async function provision(guid: string): Promise<{ key: string; keyId: string }> {
  const answer = await invokeHttp(provisionHandler, postKeysEvent({ guid }), lambdaContext());
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const key = String(answer.body.litellm_virtual_key);
  issuedToCallers.add(key);
  return { key, keyId: sha256(key) };
}

/** Move a key's expiry (the stand-in's table is LiteLLM's own). */
const setExpiry = (keyId: string, expires: Date | null) => h.litellm.table.update(keyId, { expires });

async function tokensLeft(): Promise<Set<string>> {
  const rows = await h.litellm.table.db.query<{ token: string }>(
    'SELECT token FROM "LiteLLM_VerificationToken"',
  );
  return new Set(rows.map((row) => row.token));
}

/** Audit rows per token: LiteLLM writes one for each deletion, so a count of 2 is a double delete. */
async function deletionsPerToken(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const row of await h.litellm.table.deletedRows()) {
    counts.set(row.token, (counts.get(row.token) ?? 0) + 1);
  }
  return counts;
}

/** `count` keys; `kind(i)` says which: expired of ours, live of ours, or someone else's. */
function population(count: number, kind: (i: number) => 'expired' | 'live' | 'foreign'): NewKey[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const type = kind(i);
    return {
      token: sha256(`population-${i}`),
      key_name: 'sk-...xxxx',
      key_alias: type === 'foreign' ? `team-key-${i}` : `virtkey-lab${i}`,
      expires: new Date(now + (type === 'expired' ? -1 : 1) * (HOUR + i)),
      models: [],
      metadata: type === 'foreign' ? {} : ours(`lab${i}`),
      user_id: null,
      max_budget: null,
      created_by: 'default_user_id',
    };
  });
}

before(async () => {
  // Every LiteLLM failure reaches the sweep: no transport retries to hide them.
  h = await startHarness({ LITELLM_RETRIES: '0' });
  ({ handler: provisionHandler } = (await import('../../functions/provision.ts')) as { handler: Handler });
  ({ handler: sweepHandler } = (await import('../../functions/sweep.ts')) as { handler: Handler });
});
beforeEach(() => h.reset());
afterEach(() => h.litellm.faults.clear());
after(async () => {
  await closeAndCheck(h, issuedToCallers);
});

/**
 * Expired keys of ours (made by provision, so with stored values), live keys of ours, and every
 * kind of key the sweep must leave alone.
 */
async function mixedPopulation() {
  const expired = await Promise.all(['old1', 'old2', 'old3'].map((guid) => provision(guid)));
  const live = await Promise.all(['new1', 'new2'].map((guid) => provision(guid)));
  for (const key of expired) await setExpiry(key.keyId, new Date(Date.now() - 2 * HOUR));
  const past = new Date(Date.now() - 5 * HOUR);
  const leftAlone = await Promise.all([
    h.litellm.seedKey({ alias: 'team-key-1', expires: past }),
    h.litellm.seedKey({ alias: null, expires: past, metadata: ours('noalias') }),
    h.litellm.seedKey({ alias: 'virtkey-fake1', expires: past }),
    h.litellm.seedKey({ alias: 'virtkey-fake2', expires: past, metadata: { guid: 'fake2' } }),
    // our marker, but the alias names another lab than the metadata
    h.litellm.seedKey({ alias: 'virtkey-mixed1', expires: past, metadata: ours('mixed2') }),
    h.litellm.seedKey({ alias: 'virtkey-forever1', expires: null, metadata: ours('forever1') }),
    h.litellm.seedKey({ alias: 'team-key-2', expires: null }),
  ]);
  return { expired, live, leftAlone };
}

describe('sweep', () => {
  for (const mode of ['supported', 'refused', 'ignored'] as const) {
    it(`deletes exactly the expired keys of ours (expires filter ${mode})`, async () => {
      const { expired, live, leftAlone } = await mixedPopulation();
      h.litellm.expiresFilter = mode;
      const before = await tokensLeft();
      h.litellm.resetCounters();
      h.secrets.resetCounters();

      const dry = await sweep({ dry_run: true });

      assert.equal(dry.expired, 3);
      assert.equal(dry.deleted, 0);
      assert.deepEqual([...(dry.would_delete as string[])].sort(), [
        'virtkey-old1',
        'virtkey-old2',
        'virtkey-old3',
      ]);
      assert.equal(h.litellm.mutatingCalls(), 0);
      assert.equal(h.secrets.mutatingCalls(), 0);
      assert.deepEqual(await tokensLeft(), before);

      const report = await sweep();

      const { duration_ms, ...figures } = report;
      assert.ok(typeof duration_ms === 'number' && duration_ms >= 0);
      assert.deepEqual(figures, {
        scanned: 12,
        managed: 6,
        expired: 3,
        deleted: 3,
        deleted_by_package: { 'ai-developer': 3 },
        failed: 0,
        skipped_unmanaged: 5,
        already_gone: 0,
        pending: 0,
        stored_keys_deleted: 3,
        orphan_secrets: 0,
        orphan_secrets_deleted: 0,
        expiry_warnings: 0,
        listing: mode === 'supported' ? 'expires-filter' : 'full',
        list_errors: 0,
        dry_run: false,
        stopped_early: false,
      });
      const left = await tokensLeft();
      for (const key of expired) assert.ok(!left.has(key.keyId));
      for (const key of live) assert.ok(left.has(key.keyId));
      for (const key of leftAlone) assert.ok(left.has(key.token));
      assert.equal(left.size, before.size - 3);
      for (const guid of ['old1', 'old2', 'old3'])
        assert.equal(h.secrets.valueOf(secretName(`virtkey-${guid}`)), undefined);
      for (const guid of ['new1', 'new2']) assert.ok(h.secrets.valueOf(secretName(`virtkey-${guid}`)));
      assert.deepEqual(
        [...(await deletionsPerToken()).keys()].sort(),
        expired.map((key) => key.keyId).sort(),
      );

      const line = logEntries().findLast((entry) => entry.message === 'swept');
      assert.equal(line?.deleted, 3);
      assert.equal(line?.trigger, 'schedule');
      const swept = h.bus.of('Virtual Keys Swept').at(-1);
      assert.equal(swept?.source, 'litellm.virtual-keys');
      assert.equal(swept?.detail.deleted, 3);
      assert.equal(swept?.detail.dry_run, false);
      const [emf, perPackage] = metricLines.slice(-2).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(emf?.KeysSwept, 3);
      assert.equal(emf?.dry_run, 'false');
      assert.deepEqual(
        [perPackage?.KeysSwept, perPackage?.package, perPackage?.operation],
        [3, 'ai-developer', 'sweep'],
      );
    });
  }

  it('keeps a stored key that a re-provision has replaced since the listing', async () => {
    const { keyId } = await provision('race9');
    await setExpiry(keyId, new Date(Date.now() - HOUR));
    h.secrets.replace(secretName('virtkey-race9'), 'sk-a-newer-value-of-this-lab-0000000000');

    const report = await sweep();

    assert.equal(report.deleted, 1);
    assert.equal(report.stored_keys_deleted, 0);
    assert.equal(h.secrets.valueOf(secretName('virtkey-race9')), 'sk-a-newer-value-of-this-lab-0000000000');
  });

  it('counts a batch LiteLLM refuses and goes on with the others', async () => {
    await h.litellm.table.insertMany(population(300, () => 'expired'));
    h.litellm.faults.failNext('POST /key/delete', '503');

    const report = await sweep();

    assert.equal(report.expired, 300);
    assert.equal(report.deleted, 200);
    assert.equal(report.failed, 100);
    assert.equal((await tokensLeft()).size, 100, 'the refused batch is still there');
    const warning = logEntries().findLast((entry) => entry.message === 'sweep batch not deleted');
    assert.equal(warning?.keys, 100);

    const rerun = await sweep();
    assert.equal(rerun.deleted, 100);
    assert.equal((await tokensLeft()).size, 0);
  });

  it('refuses a manual invoke it does not understand, deleting nothing', async () => {
    await h.litellm.table.insertMany(population(5, () => 'expired'));

    const answer = (await sweep({ dryRun: true })) as unknown as Record<string, unknown>;

    assert.equal(answer.outcome, 'rejected');
    assert.equal(answer.status, 400);
    assert.equal((await tokensLeft()).size, 5);
    assert.equal(h.litellm.callCount(), 0);
  });

  it('takes the sample manual invoke as a dry run', async () => {
    await h.litellm.table.insertMany(population(5, () => 'expired'));

    const report = await sweep(sampleEvent('invoke-sweep-dry-run.json'));

    assert.equal(report.dry_run, true);
    assert.equal(report.expired, 5);
    assert.equal((await tokensLeft()).size, 5);
    assert.equal(h.bus.of('Virtual Keys Swept').at(-1)?.detail.trigger, 'manual');
  });
});

describe('sweep at scale', () => {
  it('100,000 keys, 25% expired: a short run stops early, the next finishes, nothing twice', async () => {
    await h.litellm.table.insertMany(
      population(100_000, (i) => (i % 4 === 0 ? 'expired' : i % 4 === 1 ? 'live' : 'foreign')),
    );
    const expiredTokens = new Set(Array.from({ length: 25_000 }, (_, n) => sha256(`population-${n * 4}`)));

    const short = await sweep(undefined, 1_500);

    assert.equal(short.stopped_early, true);
    assert.ok(short.deleted > 0 && short.deleted < 25_000, `first run deleted ${short.deleted}`);
    assert.equal(short.failed, 0);

    const rest = await sweep();

    assert.equal(rest.stopped_early, false);
    assert.equal(rest.failed, 0);
    assert.equal(short.deleted + rest.deleted, 25_000);
    const left = await tokensLeft();
    assert.equal(left.size, 75_000);
    for (const token of expiredTokens) assert.ok(!left.has(token));
    const deletions = await deletionsPerToken();
    assert.equal(deletions.size, 25_000);
    assert.ok(
      [...deletions.values()].every((n) => n === 1),
      'no key deleted twice',
    );
    assert.ok([...deletions.keys()].every((token) => expiredTokens.has(token)));
  });

  it('20% 5xx: reruns delete every expired key of ours, and each report tells the truth', async () => {
    await h.litellm.table.insertMany(population(4_000, (i) => (i % 2 === 0 ? 'expired' : 'live')));
    h.litellm.faults.set({ errorRate: 0.2 }, 7);
    let totalFailed = 0;
    let totalDeleted = 0;
    for (let run = 1; run <= 15; run++) {
      const before = (await tokensLeft()).size;
      let report: Report;
      try {
        report = await sweep();
      } catch {
        // The first page of the listing failed: nothing was read, so nothing may have changed.
        assert.equal((await tokensLeft()).size, before);
        continue;
      }
      assert.equal((await tokensLeft()).size, before - report.deleted, `run ${run}: deleted is exact`);
      assert.equal(report.expired, report.deleted + report.failed + report.pending + report.already_gone);
      totalFailed += report.failed;
      totalDeleted += report.deleted;
      if (report.expired === 0 && !report.stopped_early) break;
    }
    assert.equal(totalDeleted, 2_000);
    assert.ok(totalFailed > 0, 'some batches failed along the way');
    assert.equal((await tokensLeft()).size, 2_000);
    assert.ok([...(await deletionsPerToken()).values()].every((n) => n === 1));
  });
});

describe('expiry warnings', () => {
  it('sends one Virtual Key Expiring per key and expiry, and again after an extension', async () => {
    const soon = await provision('soon1');
    const alsoSoon = await provision('soon2');
    const later = await provision('later1');
    await setExpiry(soon.keyId, new Date(Date.now() + 2 * HOUR));
    await setExpiry(alsoSoon.keyId, new Date(Date.now() + 3 * HOUR));
    await setExpiry(later.keyId, new Date(Date.now() + 72 * HOUR));

    const first = await sweep();

    assert.equal(first.expiry_warnings, 2);
    const warnings = h.bus.of('Virtual Key Expiring');
    assert.deepEqual(warnings.map((w) => w.detail.guid).sort(), ['soon1', 'soon2']);
    const warning = warnings.find((w) => w.detail.guid === 'soon1');
    assert.equal(warning?.source, 'litellm.virtual-keys');
    assert.equal(warning?.detail.litellm_key_alias, 'virtkey-soon1');
    assert.equal(warning?.detail.litellm_key_id, soon.keyId);
    assert.match(String(warning?.detail.litellm_key_expires), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(String(warning?.detail.secret_arn), /^arn:aws:secretsmanager:.*virtkey-soon1/);
    assert.ok(!warning?.raw.includes(soon.key));

    const second = await sweep();
    assert.equal(second.expiry_warnings, 0);
    assert.equal(h.bus.of('Virtual Key Expiring').length, 2);

    await setExpiry(soon.keyId, new Date(Date.now() + 5 * HOUR));
    const third = await sweep();
    assert.equal(third.expiry_warnings, 1);
    const guids = h.bus.of('Virtual Key Expiring').map((w) => w.detail.guid);
    assert.deepEqual(guids.slice(2), ['soon1']);
  });

  it('a warning that could not be sent is sent by the next run', async () => {
    const soon = await provision('soon3');
    await setExpiry(soon.keyId, new Date(Date.now() + HOUR));
    h.bus.failNextEntries(1);

    const failed = await sweep();
    assert.equal(failed.expiry_warnings, 0);
    assert.equal(h.secrets.tagsOf(secretName('virtkey-soon3'))['expiry-warned'], undefined);

    const retried = await sweep();
    assert.equal(retried.expiry_warnings, 1);
    assert.equal(h.bus.of('Virtual Key Expiring').length, 1);
  });
});

describe('orphan stored keys', () => {
  it('deletes stored keys whose key is gone, once they are a day old', async () => {
    await provision('live7');
    h.secrets.put(secretName('virtkey-gone7'), 'sk-orphan-value-0000000000000000');
    h.secrets.put(secretName('virtkey-fresh7'), 'sk-fresh-orphan-000000000000000');
    h.secrets.age(secretName('virtkey-gone7'), 2 * 24 * HOUR);
    h.secrets.age(secretName('virtkey-live7'), 2 * 24 * HOUR);

    const dry = await sweep({ dry_run: true });
    assert.equal(dry.orphan_secrets, 1);
    assert.equal(dry.orphan_secrets_deleted, 0);
    assert.ok(h.secrets.valueOf(secretName('virtkey-gone7')));

    const report = await sweep();

    assert.equal(report.orphan_secrets, 1);
    assert.equal(report.orphan_secrets_deleted, 1);
    assert.equal(h.secrets.valueOf(secretName('virtkey-gone7')), undefined);
    assert.ok(h.secrets.valueOf(secretName('virtkey-fresh7')), 'younger than a day');
    assert.ok(h.secrets.valueOf(secretName('virtkey-live7')), 'its key exists');
  });
});
