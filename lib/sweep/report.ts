import { type DeletionTally, newDeletionTally } from './delete-expired.ts';
import type { WarningTally } from './expiry-warnings.ts';
import type { ReconcileTally } from './reconcile.ts';
/** What a sweep did (or, in a dry run, would do); returned, logged, published as metrics and as an event. */
export interface SweepReport {
  /** Every key read from LiteLLM: re-read before deletion, and on the reconciliation's pages. */
  scanned: number;
  /** Keys of ours among them. */
  managed: number;
  /** Keys of ours the ledger has past expiry and grace: what is (or in a dry run would be) deleted. */
  expired: number;
  deleted: number;
  /** `deleted`, per package the keys were made for. */
  deleted_by_package: Record<string, number>;
  /** Keys whose deletion LiteLLM refused, did not answer, or did not carry out; the next run tries again. */
  failed: number;
  /** Expired keys, seen by the reconciliation, that are not ours: left alone. */
  skipped_unmanaged: number;
  /** Expired keys of ours that were gone from LiteLLM by the time we deleted them. */
  already_gone: number;
  /** Expired keys of ours that LiteLLM, read right before, shows extended: kept. */
  kept_extended: number;
  /** Expired keys of ours not tried: out of time, or changed by a request at that moment. */
  pending: number;
  /** Keys LiteLLM applied late (after their lab deleted or replaced them) found and deleted. */
  late_keys_deleted: number;
  /** `Virtual Key Expiring` events sent by this run. */
  expiry_warnings: number;
  reconciliation: {
    /** LiteLLM calls it spent (at most RECONCILE_CALLS). */
    calls: number;
    pages: number;
    /** Keys with our marker that the ledger has no record of (nor looks for again): reported only. */
    unrecorded: number;
    /** Recorded keys gone from LiteLLM, dropped from the ledger. */
    closed: number;
    /** Set when the circuit breaker kept ledger entries from being closed. */
    breaker?: string;
    cycle_complete: boolean;
    /** How LiteLLM's list was read: with its expiry filter (v1.93 on), or every key. */
    listing?: 'expires-filter' | 'full';
  };
  dry_run: boolean;
  /** Work was left for the next run (time ran out, or keys were busy). */
  stopped_early: boolean;
  duration_ms: number;
  /** Dry run only: the first 50 aliases that would be deleted. */
  would_delete?: string[];
  /** Each LiteLLM target's part of the figures above, and whether it could be swept at all. */
  targets: Record<string, TargetSweep>;
}

/** One target's share of a sweep; an unavailable target is left for the next run, the others are swept. */
export type TargetSweep = Pick<
  SweepReport,
  'scanned' | 'managed' | 'expired' | 'deleted' | 'failed' | 'pending' | 'reconciliation'
> & {
  status: 'swept' | 'unavailable';
  /** Why the target could not be reached (or stopped answering); its work waits for the next run. */
  detail?: string;
};

/** What the sweep did on one target, and why it stopped if it could not finish. */
export interface TargetOutcome {
  readonly deletion: DeletionTally;
  readonly reconciled: ReconcileTally | undefined;
  readonly unavailable?: string;
}

/** A dry run names at most this many aliases. */
export const DRY_RUN_ALIASES = 50;

/** The report of one run, from what each phase tallied on each target; a phase that did not run counts nothing. */
export function sweepReport(run: {
  readonly targets: ReadonlyMap<string, TargetOutcome>;
  readonly warnings: WarningTally | undefined;
  readonly dryRun: boolean;
  readonly durationMs: number;
}): SweepReport {
  const outcomes = [...run.targets.values()];
  const deletion = sumDeletions(outcomes.map((outcome) => outcome.deletion));
  const reconciled = outcomes.map((outcome) => outcome.reconciled);
  const { warnings } = run;
  return {
    ...figures(deletion, reconciled),
    deleted_by_package: Object.fromEntries(deletion.deletedByPackage),
    skipped_unmanaged: sum(reconciled, (tally) => tally.skippedUnmanaged),
    already_gone: deletion.alreadyGone,
    kept_extended: deletion.kept,
    late_keys_deleted: deletion.lateDeleted + sum(reconciled, (tally) => tally.lateDeleted),
    expiry_warnings: warnings?.sent ?? 0,
    dry_run: run.dryRun,
    stopped_early:
      deletion.pending > 0 ||
      (warnings?.pending ?? 0) > 0 ||
      reconciled.some((tally) => tally === undefined) ||
      outcomes.some((outcome) => outcome.unavailable !== undefined),
    duration_ms: run.durationMs,
    ...(run.dryRun ? { would_delete: deletion.aliases.slice(0, DRY_RUN_ALIASES) } : {}),
    targets: Object.fromEntries(
      [...run.targets].map(([name, outcome]): [string, TargetSweep] => [
        name,
        {
          status: outcome.unavailable === undefined ? 'swept' : 'unavailable',
          ...(outcome.unavailable === undefined ? {} : { detail: outcome.unavailable }),
          ...figures(outcome.deletion, [outcome.reconciled]),
        },
      ]),
    ),
  };
}

function sum(tallies: readonly (ReconcileTally | undefined)[], count: (tally: ReconcileTally) => number) {
  return tallies.reduce((total, tally) => total + (tally ? count(tally) : 0), 0);
}

/** The counts a target's part and the whole share. */
function figures(deletion: DeletionTally, reconciled: readonly (ReconcileTally | undefined)[]) {
  const done = reconciled.filter((tally): tally is ReconcileTally => tally !== undefined);
  const breakers = done.flatMap((tally) => (tally.breaker ? [tally.breaker] : []));
  const listing = done.find((tally) => tally.listing)?.listing;
  return {
    scanned: deletion.read + sum(done, (tally) => tally.listed),
    managed: deletion.read + sum(done, (tally) => tally.managed),
    expired: deletion.expired,
    deleted: deletion.deleted,
    failed: deletion.failed,
    pending: deletion.pending,
    reconciliation: {
      calls: sum(done, (tally) => tally.calls),
      pages: sum(done, (tally) => tally.pages),
      unrecorded: sum(done, (tally) => tally.unrecorded),
      closed: sum(done, (tally) => tally.closed),
      ...(breakers.length > 0 ? { breaker: breakers.join('; ') } : {}),
      cycle_complete: done.length === reconciled.length && done.every((tally) => tally.cycleComplete),
      ...(listing ? { listing } : {}),
    },
  };
}

/** The deletion tallies of every swept target as one. */
function sumDeletions(tallies: readonly DeletionTally[]): DeletionTally {
  const total = newDeletionTally();
  for (const tally of tallies) {
    total.expired += tally.expired;
    total.deleted += tally.deleted;
    total.alreadyGone += tally.alreadyGone;
    total.kept += tally.kept;
    total.failed += tally.failed;
    total.pending += tally.pending;
    total.lateDeleted += tally.lateDeleted;
    total.read += tally.read;
    for (const [name, count] of tally.deletedByPackage)
      total.deletedByPackage.set(name, (total.deletedByPackage.get(name) ?? 0) + count);
    total.aliases.push(...tally.aliases);
  }
  return total;
}
