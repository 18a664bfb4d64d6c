import { eachLimited } from '../concurrency.ts';
import { isExpired, ownerOf } from '../key-identity.ts';
import { mergeRechecks, rechecksUntilExpiry } from '../lab/retired-keys.ts';
import type { Lab } from '../ledger/lab-record.ts';
import type { LabStore } from '../ledger/lab-store.ts';
import { type LeaseDeps, tryLease } from '../ledger/lease.ts';
import {
  type ReconcileCursor,
  readReconcileCursor,
  writeReconcileCursor,
} from '../ledger/reconcile-cursor.ts';
import { type IndexPosition, labsDuePage } from '../ledger/sweep-index.ts';
import { isFault } from '../litellm/errors.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { DEFAULT_TARGET } from '../target-config.ts';
import type { DryRunGate } from './dry-run-gate.ts';

const EMPTY_PROXY = 'LiteLLM lists no key at all: nothing is closed';

export interface ReconcileTally {
  /** LiteLLM calls spent. */
  calls: number;
  /** /key/list pages read, and keys on them. */
  pages: number;
  listed: number;
  /** Keys of ours on those pages: recorded in the ledger. */
  managed: number;
  /** Expired keys on those pages that are not ours: left alone. */
  skippedUnmanaged: number;
  /** Keys a lab's ledger looks for again (applied late): deleted. */
  lateDeleted: number;
  /** Keys with our marker that the ledger has no record of: reported, never touched. */
  unrecorded: number;
  /** Recorded keys LiteLLM no longer holds: dropped from the ledger. */
  closed: number;
  /** Why nothing was closed this run, when the circuit breaker held. */
  breaker?: string;
  /** The listing came round to its first page again. */
  cycleComplete: boolean;
  /** How the last page was read: with the proxy's expiry filter, or unfiltered (older proxies). */
  listing?: 'expires-filter' | 'full';
}

export interface ReconcileOptions {
  readonly table: string;
  readonly store: LabStore;
  /** The LiteLLM target reconciled, with its client; its own cursor and recorded keys. */
  readonly target: string;
  readonly litellm: KeyApi;
  /** LiteLLM calls this run may spend. */
  readonly budget: number;
  readonly now: Date;
  /** How long after its intent a key's late apply is looked for. */
  readonly graceMs: number;
  readonly gate: DryRunGate;
  readonly concurrency: number;
  readonly lease: LeaseDeps;
  readonly shouldStop: () => boolean;
}

/**
 * Finds where the ledger and LiteLLM disagree, a bounded amount each night: pages of LiteLLM's key
 * list (expired keys only, where the proxy can filter) from where the last run stopped, and keys
 * the ledger records that LiteLLM no longer holds. A key with our marker is deleted only when the
 * ledger names it as one to look for again (a late apply); otherwise it is reported, never touched.
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileTally> {
  const tally: ReconcileTally = {
    calls: 0,
    pages: 0,
    listed: 0,
    managed: 0,
    skippedUnmanaged: 0,
    lateDeleted: 0,
    unrecorded: 0,
    closed: 0,
    cycleComplete: false,
  };
  const cursor = await readReconcileCursor(options.table, options.target);
  // At most half the budget on LiteLLM's list, the rest on the ledger's keys.
  const room = (calls: number, share = 1) =>
    tally.calls + calls <= options.budget * share && !options.shouldStop();
  const listing = await readListing(cursor, options, tally, () => room(1, 0.5));
  const closing = await closeVanishedKeys(options, tally, room, cursor.closing);
  await options.gate.change(() =>
    writeReconcileCursor(options.table, options.target, { ...listing, ...(closing ? { closing } : {}) }),
  );
  return tally;
}

/** Pages of LiteLLM's list from the cursor: each key with our marker must be one the ledger records. */
async function readListing(
  cursor: ReconcileCursor,
  options: ReconcileOptions,
  tally: ReconcileTally,
  mayCall: () => boolean,
): Promise<ReconcileCursor> {
  let { page, filter } = cursor;
  while (mayCall()) {
    let result: Awaited<ReturnType<KeyApi['listKeys']>>;
    try {
      tally.calls++;
      result = await options.litellm.listKeys({
        page,
        sort_by: 'token',
        sort_order: 'asc',
        ...(filter === 'expired' ? { expires: 'expired' as const } : {}),
      });
    } catch (error) {
      if (filter === 'expired' && isFault(error, 'list-filter-refused')) {
        filter = 'none';
        continue;
      }
      throw error;
    }
    tally.pages++;
    tally.listing = filter === 'expired' ? 'expires-filter' : 'full';
    // An older proxy ignores the filter: a live key on the page says so; the walk continues unfiltered.
    if (filter === 'expired' && result.keys.some((key) => !isExpired(key, options.now))) {
      filter = 'none';
      tally.listing = 'full';
    }
    tally.listed += result.keys.length;
    await checkListedKeys(result.keys, options, tally);
    if (page >= result.total_pages || result.keys.length === 0) {
      // A full walk done: the next starts over, trying the filter again (the proxy may have been upgraded).
      tally.cycleComplete = true;
      page = 1;
      filter = 'expired';
      break;
    }
    page++;
  }
  return { page, filter };
}

async function checkListedKeys(keys: readonly KeyRecord[], options: ReconcileOptions, tally: ReconcileTally) {
  const late: string[] = [];
  await eachLimited(keys, options.concurrency, async (record) => {
    const owner = ownerOf(record);
    if (!owner || !record.token) {
      if (isExpired(record, options.now)) tally.skippedUnmanaged++;
      return;
    }
    const lab = await options.store.read(owner.guid);
    if (lab.keys.some((key) => key.keyId === record.token)) {
      tally.managed++;
    } else if (isLateKey(record, lab, options)) {
      late.push(record.token);
    } else {
      tally.unrecorded++;
      log.warn('a key with our marker that this service has no record of; left alone', {
        alias: record.key_alias,
        key_id: record.token,
      });
    }
  });
  if (late.length === 0) return;
  await options.gate.change(async () => {
    tally.calls++;
    await options.litellm.deleteKeys(late);
    log.warn('deleted keys LiteLLM applied late for labs that no longer record them', { key_ids: late });
  });
  tally.lateDeleted += late.length;
}

/**
 * A key the lab's ledger looks for again: one of its recorded ids, or (our marker and the lab's
 * alias being on it) made inside the window in which a recorded intent under that alias could land.
 */
function isLateKey(record: KeyRecord, lab: Lab, options: ReconcileOptions): boolean {
  const created = record.created_at ? Date.parse(record.created_at) : Number.NaN;
  return lab.rechecks.some(
    (recheck) =>
      recheck.target === options.target &&
      (recheck.keyId === record.token ||
        (recheck.alias === record.key_alias &&
          created >= Date.parse(recheck.until) - options.graceMs &&
          created <= Date.parse(recheck.until))),
  );
}

/** Keys per /v2/key/info call, as the client sends them. */
const BULK_READ = 250;

/**
 * Recorded keys LiteLLM no longer holds (deleted elsewhere): dropped from their lab, under its
 * lease. The walk of the ledger goes on where the last run's budget ended and returns where it
 * stopped (none once it came round). Nothing is closed until the whole walk is read: LiteLLM
 * listing no key at all, or missing more than a tenth of what the ledger records, is a wrong or
 * restored proxy, and the same stretch is looked at again next run.
 */
async function closeVanishedKeys(
  options: ReconcileOptions,
  tally: ReconcileTally,
  mayCall: (calls: number) => boolean,
  from: IndexPosition | undefined,
): Promise<IndexPosition | undefined> {
  let position: IndexPosition | undefined = from ?? { shard: 0 };
  let checked = 0;
  const vanished: { guid: string; keyId: string }[] = [];
  // Each page read keeps a call in hand for the check that LiteLLM is not empty, should a key be gone.
  while (position && mayCall(vanished.length > 0 ? 1 : 2)) {
    const { labs, next } = await labsDuePage(options.table, '\uffff', 200, position);
    const refs = labs.flatMap((due) =>
      due.keyRefs
        .map((ref) => ref.split(' '))
        .filter(([target]) => (target ?? DEFAULT_TARGET) === options.target)
        .map(([, keyId]) => ({ guid: due.guid, keyId: keyId ?? '' })),
    );
    if (refs.length > 0) {
      tally.calls += Math.ceil(refs.length / BULK_READ);
      const held = await options.litellm.getKeysInfo(refs.map((ref) => ref.keyId));
      vanished.push(...refs.filter((ref) => !held.has(ref.keyId)));
      checked += refs.length;
    }
    position = next;
  }
  if (vanished.length === 0) return position;
  tally.calls++;
  if ((await options.litellm.listKeys({ page: 1, size: 1 })).total_count === 0) tally.breaker = EMPTY_PROXY;
  else if (checked > 1 && vanished.length === checked)
    tally.breaker = `LiteLLM holds none of ${checked} keys the ledger records: a wrong URL or master key, or a restored database? Nothing is closed`;
  else if (vanished.length > Math.max(5, checked / 10))
    tally.breaker = `${vanished.length} of ${checked} keys the ledger records are gone from LiteLLM, more than a tenth: a proxy restored from an older backup? Nothing is closed`;
  if (tally.breaker) return from;
  await closeOnLabs(vanished, options, tally);
  return position;
}

/** Drop vanished keys from their labs, each under its lease (a busy lab waits for the next run). */
async function closeOnLabs(
  vanished: readonly { guid: string; keyId: string }[],
  options: ReconcileOptions,
  tally: ReconcileTally,
) {
  const byLab = new Map<string, Set<string>>();
  for (const ref of vanished) byLab.set(ref.guid, (byLab.get(ref.guid) ?? new Set()).add(ref.keyId));
  const closing = options.gate.change(() =>
    eachLimited([...byLab], options.concurrency, async ([guid, ids]) => {
      const held = await tryLease(guid, options.lease);
      if (!held) return;
      const closed = held.lab.keys.filter((key) => ids.has(key.keyId) && key.status === 'live');
      const closedIds = new Set(closed.map((key) => key.keyId));
      await held.release((current) => {
        const keys = current.keys.filter((key) => !closedIds.has(key.keyId));
        const onTarget = keys.some((key) => key.target === (current.target ?? DEFAULT_TARGET));
        return {
          ...current,
          keys,
          state: current.state === 'active' && !onTarget ? 'expired' : current.state,
          // Should the key come back (a restored proxy), it is deleted, not left live unrecorded.
          rechecks: mergeRechecks(current.rechecks, rechecksUntilExpiry(closed, options.graceMs)),
        };
      });
      tally.closed += closed.length;
      for (const key of closed)
        log.warn('a recorded key is gone from LiteLLM; closed', { alias: key.alias, key_id: key.keyId });
    }),
  );
  if (!(await closing)) tally.closed += vanished.length;
}
