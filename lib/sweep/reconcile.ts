import { eachLimited } from '../concurrency.ts';
import { expiryOf, hashKey, isExpired, ownerOf } from '../key-identity.ts';
import type { KeyStore, StoredKeyEntry } from '../key-store.ts';
import { legacyUsersListGuid } from '../lab/legacy-users-list.ts';
import { allRecordedKeys } from '../ledger/expiry-index.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import {
  type ReconcileCursor,
  readReconcileCursor,
  writeReconcileCursor,
} from '../ledger/reconcile-cursor.ts';
import type { KeyEntry } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { isFault } from '../litellm/errors.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { entryTarget } from '../targets/lab-target.ts';
import type { DryRunGate } from './dry-run-gate.ts';

const EMPTY_PROXY = 'LiteLLM lists no key at all: nothing is closed and stored values are kept';

/** A stored value must have stood unchanged this long before it can count as an orphan. */
export const ORPHAN_MIN_AGE_MS = 86_400_000;
/** Orphan values are scheduled for deletion with this recovery window, never force-deleted. */
export const ORPHAN_RECOVERY_DAYS = 7;

export interface ReconcileTally {
  /** LiteLLM calls spent. */
  calls: number;
  /** /key/list pages read, and keys on them. */
  pages: number;
  listed: number;
  /** Keys of ours on those pages, recorded or adopted. */
  managed: number;
  /** Expired keys on those pages that are not ours: left alone. */
  skippedUnmanaged: number;
  /** Keys of ours the ledger missed whose value we store: now recorded. */
  adopted: number;
  /** Keys with our marker that we have no record of and no value for: reported, never touched. */
  unrecorded: number;
  /** Recorded keys LiteLLM no longer holds: dropped from the ledger. */
  closed: number;
  orphanSecrets: number;
  orphanSecretsDeleted: number;
  /** Why nothing was closed or deleted this run, when the circuit breaker held. */
  breaker?: string;
  /** The listing came round to its first page again. */
  cycleComplete: boolean;
  /** How the last page was read: with the proxy's expiry filter, or unfiltered (older proxies). */
  listing?: 'expires-filter' | 'full';
}

export interface ReconcileOptions {
  readonly table: string;
  /** The LiteLLM target reconciled, with its client; its own cursor and recorded keys. */
  readonly target: string;
  /**
   * Whether stored values nothing records are looked for: on the default target only, where labs
   * from before the ledger live (every lab on another target is recorded from its start).
   */
  readonly orphans: boolean;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly litellm: LiteLlmClient;
  readonly keyStore: KeyStore;
  /** LiteLLM calls this run may spend. */
  readonly budget: number;
  /** Orphans beyond this share of the stored values stop their deletion (a wrong or restored proxy). */
  readonly orphanMaxShare: number;
  readonly now: Date;
  readonly gate: DryRunGate;
  readonly concurrency: number;
  readonly owner: string;
  readonly shouldStop: () => boolean;
}

/**
 * Finds where the ledger and LiteLLM disagree, a bounded amount each night: pages of LiteLLM's key
 * list (expired keys only, where the proxy can filter) from where the last run stopped, keys the
 * ledger records that LiteLLM no longer holds, and stored values nothing records. Nothing is
 * deleted on LiteLLM's word alone: values go with a recovery window, and not at all when LiteLLM
 * listed no key or the orphans are too many.
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileTally> {
  const tally: ReconcileTally = {
    calls: 0,
    pages: 0,
    listed: 0,
    managed: 0,
    skippedUnmanaged: 0,
    adopted: 0,
    unrecorded: 0,
    closed: 0,
    orphanSecrets: 0,
    orphanSecretsDeleted: 0,
    cycleComplete: false,
  };
  const cursor = await readReconcileCursor(options.table, options.target);
  const spend = (share: number) => () => tally.calls < options.budget * share && !options.shouldStop();
  let empty: Promise<boolean> | undefined;
  // Asked once, and only before something would be deleted: a proxy that lists no key at all is the wrong one.
  const litellmIsEmpty = () => {
    if (!empty) {
      tally.calls++;
      empty = options.litellm.listKeys({ page: 1, size: 1 }).then((page) => page.total_count === 0);
    }
    return empty;
  };
  const listing = await readListing(cursor, options, tally, spend(0.5));
  await closeVanishedKeys(options, tally, spend(0.75), litellmIsEmpty);
  if (options.orphans) await deleteOrphanValues(options, tally, spend(1), litellmIsEmpty);
  await options.gate.change(() => writeReconcileCursor(options.table, options.target, listing));
  return tally;
}

/** Pages of LiteLLM's list from the cursor: each key of ours must be in the ledger, or have its value stored. */
async function readListing(
  cursor: ReconcileCursor,
  options: ReconcileOptions,
  tally: ReconcileTally,
  mayCall: () => boolean,
): Promise<ReconcileCursor> {
  let { page, filter } = cursor;
  while (mayCall()) {
    let result: Awaited<ReturnType<LiteLlmClient['listKeys']>>;
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
  await eachLimited(keys, options.concurrency, async (record) => {
    const owner = ownerOf(record);
    if (!owner || !record.token) {
      if (isExpired(record, options.now)) tally.skippedUnmanaged++;
      return;
    }
    const alias = record.key_alias as string;
    const recorded = await options.claims.read({ guid: owner.guid, alias, keyId: record.token });
    if (recorded) {
      tally.managed++;
      return;
    }
    const secretName = options.keyStore.nameOf(alias);
    const stored = await options.keyStore.read(secretName);
    if (stored.state !== 'present' || hashKey(stored.value) !== record.token) {
      tally.unrecorded++;
      log.warn('a key with our marker that this service has no record of; left alone', {
        alias,
        key_id: record.token,
      });
      return;
    }
    tally.managed++;
    tally.adopted++;
    await options.gate.change(() => adopt(owner, alias, secretName, record, options));
  });
}

async function adopt(
  owner: { guid: string; user?: string },
  alias: string,
  secretName: string,
  record: KeyRecord,
  options: ReconcileOptions,
) {
  const expires = expiryOf(record);
  const entry: KeyEntry = {
    guid: owner.guid,
    target: options.target,
    alias,
    ...(owner.user ? { user: owner.user } : {}),
    keyId: record.token as string,
    secretName,
    package: typeof record.metadata?.package === 'string' ? record.metadata.package : 'unknown',
    ...(expires ? { expiresAt: expires.toISOString() } : {}),
    createdAt: new Date().toISOString(),
  };
  await options.ledger.putKey(entry);
  log.info('recorded a key of ours the ledger had missed', { alias, key_id: entry.keyId });
}

/** Keys the ledger records that LiteLLM no longer holds (deleted elsewhere): closed, their values kept recoverable. */
async function closeVanishedKeys(
  options: ReconcileOptions,
  tally: ReconcileTally,
  mayCall: () => boolean,
  litellmIsEmpty: () => Promise<boolean>,
) {
  for await (const recorded of allRecordedKeys(options.table)) {
    const page = recorded.filter((entry) => entryTarget(entry) === options.target);
    for (let start = 0; start < page.length; start += 200) {
      if (!mayCall() || tally.breaker) return;
      const batch = page.slice(start, start + 200);
      tally.calls++;
      const held = await options.litellm.getKeysInfo(batch.map((entry) => entry.keyId));
      const vanished = batch.filter((entry) => !held.has(entry.keyId) && !entry.sweepClaim);
      if (vanished.length === 0) continue;
      if (await litellmIsEmpty()) {
        tally.breaker = EMPTY_PROXY;
        return;
      }
      if (batch.length > 1 && vanished.length === batch.length) {
        tally.breaker = `LiteLLM holds none of ${batch.length} keys the ledger records: a wrong URL or master key, or a restored database? Nothing is closed`;
        return;
      }
      const closing = options.gate.change(() =>
        eachLimited(vanished, options.concurrency, async (entry) => {
          if (!(await options.claims.claimForSweep(entry, options.owner, Date.now() + 60_000))) return;
          await options.claims.dropSweptKeys([entry]);
          tally.closed++;
          // Only the vanished key's own value: the name may hold another key's by now (a move's switch).
          const stored = await options.keyStore.read(entry.secretName);
          if (stored.state === 'present' && hashKey(stored.value) === entry.keyId)
            await options.keyStore.scheduleDeletion(entry.secretName, ORPHAN_RECOVERY_DAYS);
          log.warn('a recorded key is gone from LiteLLM; closed', {
            alias: entry.alias,
            key_id: entry.keyId,
          });
        }),
      );
      if (!(await closing)) tally.closed += vanished.length;
    }
  }
}

/** Stored values no ledger entry names, a day old, whose key LiteLLM does not hold: scheduled for deletion. */
async function deleteOrphanValues(
  options: ReconcileOptions,
  tally: ReconcileTally,
  mayCall: () => boolean,
  litellmIsEmpty: () => Promise<boolean>,
) {
  if (tally.breaker || !mayCall()) return;
  const stored = await options.keyStore.listAll();
  const named = new Set<string>();
  // A recorded alias's own name counts too: mid-move, no entry may name it, yet it holds the lab's value.
  for await (const page of allRecordedKeys(options.table))
    for (const entry of page) named.add(entry.secretName).add(options.keyStore.nameOf(entry.alias));
  const cutoff = options.now.getTime() - ORPHAN_MIN_AGE_MS;
  const candidates = stored.filter(
    (entry) =>
      !named.has(entry.name) &&
      !options.keyStore.isStagedForMove(entry.name) &&
      entry.changedAt.getTime() < cutoff,
  );
  if (candidates.length === 0) return;
  if (await litellmIsEmpty()) {
    tally.breaker = EMPTY_PROXY;
    return;
  }
  if (candidates.length > Math.max(1, stored.length * options.orphanMaxShare)) {
    tally.breaker = `${candidates.length} of ${stored.length} stored values look orphaned, more than ORPHAN_MAX_SHARE allows: none deleted`;
    return;
  }
  await eachLimited(candidates, options.concurrency, async (entry) => {
    if (!mayCall()) return;
    if (!(await isOrphan(entry, options, tally))) return;
    tally.orphanSecrets++;
    await options.gate.change(async () => {
      if (await options.keyStore.scheduleDeletion(entry.name, ORPHAN_RECOVERY_DAYS))
        tally.orphanSecretsDeleted++;
    });
  });
}

/** Looked at once more: a users list of a lab the ledger now has, or a value no key in LiteLLM holds. */
async function isOrphan(entry: StoredKeyEntry, options: ReconcileOptions, tally: ReconcileTally) {
  const guid = legacyUsersListGuid(options.keyStore, entry.name);
  if (guid !== undefined) return (await options.ledger.read(guid)).lab?.state !== undefined;
  const alias = options.keyStore.aliasOf(entry.name);
  const value = await options.keyStore.read(entry.name);
  if (value.state !== 'present') return false;
  tally.calls++;
  const holders = await options.litellm.listKeysByAlias(alias);
  return !holders.some((holder) => holder.token === hashKey(value.value));
}
