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
