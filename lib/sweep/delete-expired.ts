import { eachLimited } from '../concurrency.ts';
import { expiryOf } from '../key-identity.ts';
import { mergeRechecks, rechecksFor } from '../lab/retired-keys.ts';
import type { Lab, LabKey, Recheck } from '../ledger/lab-record.ts';
import type { LabStore } from '../ledger/lab-store.ts';
import { type HeldLab, type LeaseDeps, tryLease } from '../ledger/lease.ts';
import type { DueLab } from '../ledger/sweep-index.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { DEFAULT_TARGET } from '../target-config.ts';
import type { DryRunGate } from './dry-run-gate.ts';

/** Keys per batch (about: whole labs): one /key/delete call, one read before it and one after. */
export const DELETE_BATCH_SIZE = 100;

export interface DeletionTally {
  /** Expired keys of ours the ledger gave. */
  expired: number;
  deleted: number;
  /** Gone from LiteLLM before we asked (deleted elsewhere). */
  alreadyGone: number;
  /** Extended since they were recorded (LiteLLM's expiry, read right before, is later): kept. */
  kept: number;
  failed: number;
  /** Labs not visited: out of time, or busy with a request at that moment. */
  pending: number;
  /** Keys LiteLLM applied late for a deleted key or an earlier generation, deleted whatever their expiry. */
  lateDeleted: number;
  /** Keys LiteLLM was asked about (each re-read row). */
  read: number;
  /** Deleted keys per package. */
  readonly deletedByPackage: Map<string, number>;
  /** A dry run's aliases. */
  readonly aliases: string[];
}

export interface DeletionOptions {
  /** Labs with work due before an instant, a page at a time (the sweep's index). */
  readonly labsDue: (before: string) => AsyncIterable<DueLab[]>;
  readonly store: LabStore;
  /** The target whose labs this run visits, with its client. */
  readonly target: string;
  readonly litellm: KeyApi;
  /** Keys whose ledger expiry is before this (now less the grace) are due. */
  readonly cutoff: Date;
  readonly now: Date;
  readonly graceMs: number;
  readonly gate: DryRunGate;
  readonly concurrency: number;
  readonly lease: LeaseDeps;
  /** Checked before each batch. */
  readonly shouldStop: () => boolean;
}

export function newDeletionTally(): DeletionTally {
  return {
    expired: 0,
    deleted: 0,
    alreadyGone: 0,
    kept: 0,
    failed: 0,
    pending: 0,
    lateDeleted: 0,
    read: 0,
    deletedByPackage: new Map(),
    aliases: [],
  };
}

/** Whether the lab has keys or rechecks on the target: a move leaves some on another. */
const hasWorkOn = (due: DueLab, target: string) =>
  due.targets.length > 0 ? due.targets.includes(target) : (due.target ?? DEFAULT_TARGET) === target;

/** The lab's work due now on this target: expired keys, and rechecks whose grace has ended. */
function dueIn(lab: Lab, options: DeletionOptions) {
  const cutoff = options.cutoff.toISOString();
  const keys = lab.keys.filter(
    (key) => key.target === options.target && key.expiresAt !== undefined && key.expiresAt < cutoff,
  );
  const rechecks = lab.rechecks.filter((recheck) => recheck.target === options.target);
  return { keys, rechecks };
}

/**
 * Delete the expired keys of ours the ledger records on one target, labs a batch at a time: each
 * lab is leased (a busy one waits for the next run), its due keys re-read from LiteLLM, those
 * still expired announced as being deleted, deleted in one call for the batch and read back, and
 * only then dropped from the ledger by the write that gives the lease back. A key extended
 * meanwhile is kept; one that is not gone is counted failed and stays announced for the next run.
 * Keys LiteLLM applied late (rechecks) are deleted whatever their expiry.
 */
export async function deleteExpiredKeys(options: DeletionOptions): Promise<DeletionTally> {
  const tally = newDeletionTally();
  let batch: DueLab[] = [];
  let keys = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const labs = batch;
    batch = [];
    keys = 0;
    if (options.shouldStop()) {
      tally.pending += labs.length;
      return;
    }
    if (options.gate.dryRun) await countDryRun(labs, options, tally);
    else await deleteBatch(labs, options, tally);
  };
  for await (const page of options.labsDue(options.cutoff.toISOString())) {
    for (const lab of page.filter((due) => hasWorkOn(due, options.target))) {
      batch.push(lab);
      keys += Math.max(1, lab.keyRefs.length);
      if (keys >= DELETE_BATCH_SIZE) await flush();
    }
  }
  await flush();
  return tally;
}

/** A dry run reads the ledger and counts what a real run would delete; it writes nothing. */
async function countDryRun(labs: readonly DueLab[], options: DeletionOptions, tally: DeletionTally) {
  const read = await eachLimited(labs, options.concurrency, (due) => options.store.read(due.guid));
  for (const lab of read) {
    const { keys } = dueIn(lab, options);
    tally.expired += keys.length;
    tally.aliases.push(...keys.map((key) => key.alias));
  }
}

interface Visit {
  readonly held: HeldLab;
  readonly keys: readonly LabKey[];
  readonly rechecks: readonly Recheck[];
}

async function deleteBatch(labs: readonly DueLab[], options: DeletionOptions, tally: DeletionTally) {
  const leased = await eachLimited(labs, options.concurrency, (due) => tryLease(due.guid, options.lease));
  const visits: Visit[] = [];
  for (const held of leased) {
    if (!held) {
      tally.pending++;
      continue;
    }
    visits.push({ held, ...dueIn(held.lab, options) });
  }
  const ids = visits.flatMap((visit) => [...visit.keys, ...visit.rechecks].map((key) => key.keyId));
  let rows: Map<string, KeyRecord>;
  try {
    rows = ids.length > 0 ? await options.litellm.getKeysInfo(ids) : new Map();
  } catch (error) {
    log.warn('sweep batch not read; its keys are left for the next run', { err: error, labs: visits.length });
    // Expired keys the ledger gave, counted as such, and failed: the report accounts for every one.
    const unread = visits.reduce((sum, visit) => sum + visit.keys.length, 0);
    tally.expired += unread;
    tally.failed += unread;
    await Promise.all(visits.map((visit) => visit.held.abandon()));
    return;
  }
  tally.read += rows.size;
  const cutoff = options.cutoff.getTime();
  let plans = visits.map((visit) => {
    const kept = new Map<string, string>();
    const gone: LabKey[] = [];
    const doomed: LabKey[] = [];
    for (const key of visit.keys) {
      const row = rows.get(key.keyId);
      const expires = row ? expiryOf(row) : undefined;
      if (!row) gone.push(key);
      else if (!expires || expires.getTime() >= cutoff) kept.set(key.keyId, expires?.toISOString() ?? '');
      else doomed.push(key);
    }
    const late = visit.rechecks.filter((recheck) => rows.has(recheck.keyId));
    return { visit, kept, gone, doomed, late };
  });
  for (const plan of plans) {
    tally.expired += plan.visit.keys.length;
    tally.kept += plan.kept.size;
    tally.alreadyGone += plan.gone.length;
  }
  // Announced before /key/delete: a request that takes a lab over meanwhile finishes the deletion.
  // A lab whose announcement cannot be written (taken over, or DynamoDB failing) waits for the next
  // run; the rest of the batch goes on.
  const announced = await eachLimited(plans, options.concurrency, async (plan) => {
    if (plan.doomed.length === 0) return plan;
    const doomed = new Set(plan.doomed.map((key) => key.keyId));
    try {
      await plan.visit.held.record((lab) => ({
        ...lab,
        keys: lab.keys.map((key) => (doomed.has(key.keyId) ? { ...key, status: 'deleting' } : key)),
      }));
      return plan;
    } catch (error) {
      log.warn('sweep could not announce a lab’s deletions; left for the next run', {
        err: error,
        guid: plan.visit.held.lab.guid,
      });
      tally.pending++;
      await plan.visit.held.abandon();
      return undefined;
    }
  });
  // A visit whose lease ran out meanwhile deletes nothing: the lab may be another's now.
  plans = announced.filter((plan): plan is (typeof plans)[number] => {
    if (!plan) return false;
    try {
      plan.visit.held.ensureHeld();
      return true;
    } catch {
      tally.pending++;
      return false;
    }
  });
  const toDelete = plans.flatMap((plan) => [...plan.doomed, ...plan.late].map((key) => key.keyId));
  let still = new Map<string, KeyRecord>();
  try {
    if (toDelete.length > 0) {
      for (let start = 0; start < toDelete.length; start += DELETE_BATCH_SIZE)
        await options.litellm.deleteKeys(toDelete.slice(start, start + DELETE_BATCH_SIZE));
      still = await options.litellm.getKeysInfo(toDelete);
    }
  } catch (error) {
    log.warn('sweep batch not deleted', { err: error, keys: toDelete.length });
    still = new Map(toDelete.map((id) => [id, {} as KeyRecord]));
  }
  await eachLimited(plans, options.concurrency, async (plan) => {
    const deleted = plan.doomed.filter((key) => !still.has(key.keyId));
    const failed = plan.doomed.length - deleted.length;
    tally.deleted += deleted.length;
    tally.failed += failed;
    tally.lateDeleted += plan.late.filter((recheck) => !still.has(recheck.keyId)).length;
    for (const key of deleted)
      tally.deletedByPackage.set(key.package, (tally.deletedByPackage.get(key.package) ?? 0) + 1);
    if (failed > 0)
      log.warn('swept keys still in LiteLLM after /key/delete; left for the next run', {
        guid: plan.visit.held.lab.guid,
        count: failed,
      });
    await plan.visit.held
      .release((lab) => settled(lab, plan, deleted, still, options))
      .catch((error: unknown) =>
        log.warn('sweep outcome not recorded; the next run looks again', { err: error }),
      );
  });
}

/** The lab once its batch is done: deleted and vanished keys gone, kept ones with their new expiry, late keys looked for until their grace ends. */
function settled(
  lab: Lab,
  plan: {
    kept: ReadonlyMap<string, string>;
    gone: readonly LabKey[];
    late: readonly Recheck[];
    visit: Visit;
  },
  deleted: readonly LabKey[],
  still: ReadonlyMap<string, KeyRecord>,
  options: DeletionOptions,
): Lab {
  const removed = new Set([...deleted, ...plan.gone].map((key) => key.keyId));
  const now = options.now.toISOString();
  const keys = lab.keys
    .filter((key) => !removed.has(key.keyId))
    .map((key) => {
      const expires = plan.kept.get(key.keyId);
      return expires === undefined ? key : { ...key, ...(expires ? { expiresAt: expires } : {}) };
    });
  const looked = new Set(plan.visit.rechecks.map((recheck) => recheck.keyId));
  const rechecks = lab.rechecks.filter(
    (recheck) => still.has(recheck.keyId) || !(looked.has(recheck.keyId) && recheck.until <= now),
  );
  const onTarget = keys.some((key) => key.target === (lab.target ?? DEFAULT_TARGET));
  return {
    ...lab,
    state: lab.state === 'active' && !onTarget ? 'expired' : lab.state,
    keys,
    rechecks: mergeRechecks(rechecks, rechecksFor([...deleted, ...plan.gone], options.graceMs, options.now)),
  };
}
