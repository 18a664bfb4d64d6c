import { eachLimited } from '../concurrency.ts';
import { expiryOf } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import { keysExpiring, SHARDS } from '../ledger/expiry-index.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { KeyEntry } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { entryTarget } from '../targets/lab-target.ts';
import type { DryRunGate } from './dry-run-gate.ts';

/** Keys per /key/delete call. */
export const DELETE_BATCH_SIZE = 100;
/** Batches deleted side by side; each costs one closing read. */
const PIPELINES = 4;
/** How long a sweep's claim on a key lasts if the sweep dies holding it. */
const CLAIM_MS = 120_000;

export interface DeletionTally {
  /** Expired keys of ours the ledger gave. */
  expired: number;
  deleted: number;
  /** Gone from LiteLLM before we asked (deleted elsewhere). */
  alreadyGone: number;
  /** Extended since they were recorded (LiteLLM's expiry, read right before, is later): kept. */
  kept: number;
  failed: number;
  /** Deleted by LiteLLM's word, but the read that checks it failed: the next run looks again. */
  unverified: number;
  /** Expired but not tried: out of time, or changed by a request at that moment. */
  pending: number;
  storedKeysDeleted: number;
  /** Keys LiteLLM was asked about (each re-read row). */
  read: number;
  /** Deleted keys per package. */
  readonly deletedByPackage: Map<string, number>;
  /** A dry run's aliases. */
  readonly aliases: string[];
}

export interface DeletionOptions {
  readonly table: string;
  /** The target whose keys this run deletes, with its client. */
  readonly target: string;
  readonly litellm: LiteLlmClient;
  readonly claims: KeyClaims;
  readonly keyStore: KeyStore;
  /** Keys whose ledger expiry is before this (now less the grace) are due. */
  readonly cutoff: Date;
  readonly gate: DryRunGate;
  readonly concurrency: number;
  /** Unique per run: the owner of its claims. */
  readonly owner: string;
  /** Checked before each batch. */
  readonly shouldStop: () => boolean;
}

/**
 * One target's expired keys of the ledger, a hundred at a time, drawn from each shard of the expiry index
 * in turn; callers share one source, so batches are full whatever the spread over shards.
 */
class ExpiredKeys {
  private shard = 0;
  private start: Record<string, unknown> | undefined;
  private pending: Promise<KeyEntry[]> = Promise.resolve([]);

  constructor(
    private readonly table: string,
    private readonly before: string,
    private readonly target: string,
  ) {}

  /** The next batch; empty once every shard is read. Calls are served one after another. */
  next(): Promise<KeyEntry[]> {
    this.pending = this.pending.then(() => this.fill());
    return this.pending;
  }

  private async fill(): Promise<KeyEntry[]> {
    const batch: KeyEntry[] = [];
    while (batch.length < DELETE_BATCH_SIZE && this.shard < SHARDS.length) {
      const page = await keysExpiring(
        this.table,
        SHARDS[this.shard] as string,
        { before: this.before },
        DELETE_BATCH_SIZE - batch.length,
        this.start,
      );
      batch.push(...page.keys.filter((key) => entryTarget(key) === this.target));
      this.start = page.next;
      if (!page.next) this.shard++;
    }
    return batch;
  }
}

/** A tally with nothing counted yet. */
export function newDeletionTally(): DeletionTally {
  return {
    expired: 0,
    deleted: 0,
    alreadyGone: 0,
    kept: 0,
    failed: 0,
    unverified: 0,
    pending: 0,
    storedKeysDeleted: 0,
    read: 0,
    deletedByPackage: new Map(),
    aliases: [],
  };
}

/**
 * Delete the expired keys of ours the ledger names, a hundred at a time. For each batch: claim
 * the keys in the ledger (only while their expiry is still the one read), re-read them from
 * LiteLLM, delete the still-expired ones in one call, and check them gone with the next batch's
 * re-read, so a batch costs two LiteLLM calls. A key extended meanwhile is kept; a key that is not
 * gone is counted failed and left for the next run.
 */
export async function deleteExpiredKeys(options: DeletionOptions): Promise<DeletionTally> {
  const tally = newDeletionTally();
  const source = new ExpiredKeys(options.table, options.cutoff.toISOString(), options.target);
  await eachLimited(Array.from({ length: PIPELINES }), PIPELINES, () => pipeline(source, options, tally));
  return tally;
}

async function pipeline(source: ExpiredKeys, options: DeletionOptions, tally: DeletionTally): Promise<void> {
  let awaiting: KeyEntry[] = [];
  for (let batch = await source.next(); batch.length > 0; batch = await source.next()) {
    tally.expired += batch.length;
    // The batch's deletion starts with claiming its keys: nothing of it runs in a dry run.
    const deleting = options.gate.change(async () => {
      if (options.shouldStop()) tally.pending += batch.length;
      else awaiting = await deleteBatch(batch, awaiting, options, tally);
    });
    if (!(await deleting)) tally.aliases.push(...batch.map((key) => key.alias));
  }
  // The last batch's check, tried a few times: LiteLLM said it deleted them.
  for (let attempt = 1; awaiting.length > 0 && attempt <= 3; attempt++) {
    awaiting = await deleteBatch([], awaiting, options, tally);
  }
  // Unchecked, they are let go: the next run finds them gone (or deletes them).
  tally.unverified += awaiting.length;
  await releaseAll(awaiting, options);
}

/** One step: settle the previous batch's deletions and delete this batch's keys. Returns what awaits its check. */
async function deleteBatch(
  candidates: readonly KeyEntry[],
  awaiting: readonly KeyEntry[],
  options: DeletionOptions,
  tally: DeletionTally,
): Promise<KeyEntry[]> {
  const until = Date.now() + CLAIM_MS;
  const claimed = await eachLimited(candidates, options.concurrency, async (entry) =>
    (await options.claims.claimForSweep(entry, options.owner, until)) ? entry : undefined,
  );
  const mine = claimed.filter((entry): entry is KeyEntry => entry !== undefined);
  // Held by a request (an extend or a provision changed it since the index was read): next run.
  tally.pending += candidates.length - mine.length;
  let rows: Map<string, KeyRecord>;
  try {
    rows = await options.litellm.getKeysInfo([...mine, ...awaiting].map((entry) => entry.keyId));
  } catch (error) {
    log.warn('sweep batch not read; its keys are left for the next run', { err: error, keys: mine.length });
    tally.failed += mine.length;
    await releaseAll(mine, options);
    return [...awaiting];
  }
  tally.read += rows.size;
  await settle(awaiting, rows, options, tally);

  const due: KeyEntry[] = [];
  const gone: KeyEntry[] = [];
  for (const entry of mine) {
    const row = rows.get(entry.keyId);
    const expires = row ? expiryOf(row) : undefined;
    if (!row) {
      gone.push(entry);
    } else if (!expires || expires.getTime() >= options.cutoff.getTime()) {
      tally.kept++;
      await options.claims.releaseSweepClaim(entry, options.owner, expires?.toISOString());
    } else {
      due.push(entry);
    }
  }
  tally.alreadyGone += gone.length;
  await forget(gone, options, tally);
  if (due.length === 0) return [];
  try {
    if (await options.litellm.deleteKeys(due.map((entry) => entry.keyId))) return due;
    // LiteLLM's 404 "No keys found": all went between the re-read and the delete.
    tally.alreadyGone += due.length;
    await forget(due, options, tally);
    return [];
  } catch (error) {
    log.warn('sweep batch not deleted', { err: error, keys: due.length, first_alias: due[0]?.alias });
    tally.failed += due.length;
    await releaseAll(due, options);
    return [];
  }
}

/** The previous batch, now re-read: each key gone is forgotten with its stored value; one still there failed. */
async function settle(
  awaiting: readonly KeyEntry[],
  rows: ReadonlyMap<string, KeyRecord>,
  options: DeletionOptions,
  tally: DeletionTally,
): Promise<void> {
  const survivors = awaiting.filter((entry) => rows.has(entry.keyId));
  await eachLimited(survivors, options.concurrency, async (entry) => {
    tally.failed++;
    log.warn('swept key still in LiteLLM after /key/delete; left for the next run', {
      alias: entry.alias,
      key_id: entry.keyId,
    });
    await options.claims.releaseSweepClaim(entry, options.owner);
  });
  const deleted = awaiting.filter((entry) => !rows.has(entry.keyId));
  tally.deleted += deleted.length;
  for (const entry of deleted) {
    tally.deletedByPackage.set(entry.package, (tally.deletedByPackage.get(entry.package) ?? 0) + 1);
  }
  await forget(deleted, options, tally);
}

/**
 * Drop gone keys from the ledger (held by this sweep's claims) and their values from Secrets
 * Manager. No provision replaces a key's value while a sweep holds the key, so the value is this
 * key's and is deleted without being read.
 */
async function forget(entries: readonly KeyEntry[], options: DeletionOptions, tally: DeletionTally) {
  if (entries.length === 0) return;
  await options.claims.dropSweptKeys(entries);
  await eachLimited(entries, options.concurrency, async (entry) => {
    try {
      if (await options.keyStore.delete(entry.secretName)) tally.storedKeysDeleted++;
    } catch (error) {
      // The key is gone; a value left behind is an orphan the reconciliation removes.
      log.warn('stored key not deleted', { err: error, alias: entry.alias });
    }
  });
}

async function releaseAll(entries: readonly KeyEntry[], options: DeletionOptions): Promise<void> {
  await eachLimited(entries, options.concurrency, (entry) =>
    options.claims.releaseSweepClaim(entry, options.owner).catch(() => false),
  );
}
