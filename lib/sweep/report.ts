/** What a sweep did (or, in a dry run, would do); returned, logged, published as metrics and as an event. */
export interface SweepReport {
  /** Every key read from LiteLLM. */
  scanned: number;
  /** Keys of ours among them. */
  managed: number;
  /** Keys of ours past expiry and grace: what is (or in a dry run would be) deleted. */
  expired: number;
  deleted: number;
  /** `deleted`, per package the keys were made for. */
  deleted_by_package: Record<string, number>;
  /** Keys whose deletion LiteLLM refused or did not answer; the next run tries again. */
  failed: number;
  /** Expired keys that are not ours, left alone. */
  skipped_unmanaged: number;
  /** Expired keys of ours that were gone by the time we deleted them. */
  already_gone: number;
  /** Expired keys of ours not tried for lack of time. */
  pending: number;
  /** Stored key values deleted with their keys. */
  stored_keys_deleted: number;
  /** Stored keys whose key no longer exists, unchanged for a day. */
  orphan_secrets: number;
  orphan_secrets_deleted: number;
  /** `Virtual Key Expiring` events sent by this run. */
  expiry_warnings: number;
  /** How keys were listed: with the proxy's expiry filter, or every page of every key. */
  listing: 'expires-filter' | 'full';
  /** Pages of /key/list LiteLLM would not serve. */
  list_errors: number;
  dry_run: boolean;
  /** Work was left for the next run (time ran out, or a listing was not whole). */
  stopped_early: boolean;
  duration_ms: number;
  /** Dry run only: the first 50 aliases that would be deleted. */
  would_delete?: string[];
}

export const SWEPT_DETAIL_TYPE = 'Virtual Keys Swept';

/** A dry run names at most this many aliases. */
export const DRY_RUN_ALIASES = 50;
