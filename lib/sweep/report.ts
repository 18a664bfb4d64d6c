import type { DeletionTally } from './delete-expired.ts';
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
  /** Keys LiteLLM said it deleted, but which could not be read back to check; the next run looks again. */
  unverified: number;
  /** Expired keys, seen by the reconciliation, that are not ours: left alone. */
  skipped_unmanaged: number;
  /** Expired keys of ours that were gone from LiteLLM by the time we deleted them. */
  already_gone: number;
  /** Expired keys of ours that LiteLLM, read right before, shows extended: kept. */
  kept_extended: number;
  /** Expired keys of ours not tried: out of time, or changed by a request at that moment. */
  pending: number;
  /** Stored key values deleted with their keys. */
  stored_keys_deleted: number;
  /** `Virtual Key Expiring` events sent by this run. */
  expiry_warnings: number;
  reconciliation: {
    /** LiteLLM calls it spent (at most RECONCILE_CALLS). */
    calls: number;
    pages: number;
    adopted: number;
    /** Keys with our marker that the ledger has no record of, and whose value we do not hold: reported only. */
    unrecorded: number;
    /** Recorded keys gone from LiteLLM, dropped from the ledger. */
    closed: number;
    orphan_secrets: number;
    orphan_secrets_deleted: number;
    /** Set when the circuit breaker kept stored values (and ledger entries) from being deleted. */
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
}

/** A dry run names at most this many aliases. */
export const DRY_RUN_ALIASES = 50;

/** The report of one run, from what each phase tallied; a phase that did not run counts nothing. */
export function sweepReport(run: {
  readonly deletion: DeletionTally;
  readonly warnings: WarningTally | undefined;
  readonly reconciled: ReconcileTally | undefined;
  readonly dryRun: boolean;
  readonly durationMs: number;
}): SweepReport {
  const { deletion, warnings, reconciled } = run;
  return {
    scanned: deletion.read + (reconciled?.listed ?? 0),
    managed: deletion.read + (reconciled?.managed ?? 0),
    expired: deletion.expired,
    deleted: deletion.deleted,
    deleted_by_package: Object.fromEntries(deletion.deletedByPackage),
    failed: deletion.failed,
    unverified: deletion.unverified,
    skipped_unmanaged: reconciled?.skippedUnmanaged ?? 0,
    already_gone: deletion.alreadyGone,
    kept_extended: deletion.kept,
    pending: deletion.pending,
    stored_keys_deleted: deletion.storedKeysDeleted,
    expiry_warnings: warnings?.sent ?? 0,
    reconciliation: {
      calls: reconciled?.calls ?? 0,
      pages: reconciled?.pages ?? 0,
      adopted: reconciled?.adopted ?? 0,
      unrecorded: reconciled?.unrecorded ?? 0,
      closed: reconciled?.closed ?? 0,
      orphan_secrets: reconciled?.orphanSecrets ?? 0,
      orphan_secrets_deleted: reconciled?.orphanSecretsDeleted ?? 0,
      ...(reconciled?.breaker ? { breaker: reconciled.breaker } : {}),
      cycle_complete: reconciled?.cycleComplete ?? false,
      ...(reconciled?.listing ? { listing: reconciled.listing } : {}),
    },
    dry_run: run.dryRun,
    stopped_early: deletion.pending > 0 || (warnings?.pending ?? 0) > 0 || reconciled === undefined,
    duration_ms: run.durationMs,
    ...(run.dryRun ? { would_delete: deletion.aliases.slice(0, DRY_RUN_ALIASES) } : {}),
  };
}
