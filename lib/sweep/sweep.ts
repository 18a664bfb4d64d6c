import type { Config } from '../config.ts';
import { durationMs, parseDuration } from '../duration.ts';
import { listStoredKeys, type StoredKeyEntry } from '../key-store.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import { KeyCensus } from './census.ts';
import { deleteExpiredKeys } from './delete-expired.ts';
import { sendExpiryWarnings } from './expiry-warnings.ts';
import { scanKeys } from './key-scan.ts';
import { deleteOrphanSecrets } from './orphan-secrets.ts';
import { DRY_RUN_ALIASES, type SweepReport } from './report.ts';
import type { SweepRequest } from './request.ts';

export interface SweepDeps {
  readonly litellm: LiteLlmClient;
  readonly config: Config;
  readonly now: Date;
  /** Milliseconds this invocation has left. */
  readonly timeLeft: () => number;
  /** Stop starting new work when less than this is left. */
  readonly marginMs: number;
}

function msOf(text: string): number {
  const duration = parseDuration(text);
  return duration ? durationMs(duration) : 0;
}

/** Stored keys by secret name; undefined when they cannot be listed (the sweep then skips what needs them). */
async function storedKeys(prefix: string): Promise<Map<string, StoredKeyEntry> | undefined> {
  try {
    const entries = await listStoredKeys(`${prefix}virtkey-`);
    return new Map(entries.map((entry) => [entry.name, entry]));
  } catch (error) {
    log.error('stored keys could not be listed; no expiry warnings or orphan cleanup this run', {
      err: error,
    });
    return undefined;
  }
}

/**
 * Collect, then delete: list every key (with the proxy's expiry filter where it has one), delete
 * the expired keys of ours in batches, then finish the listing for warnings and orphan checks.
 * Listing may use half the time, so a run that cannot list everything still deletes what it found;
 * whatever is left, the next run picks up, and nothing is done twice.
 */
export async function runSweep(request: SweepRequest, deps: SweepDeps): Promise<SweepReport> {
  const { litellm, config, now } = deps;
  const started = Date.now();
  const concurrency = Math.max(1, Math.min(4, config.litellm.maxConnections));
  const outOfTime = () => deps.timeLeft() < deps.marginMs;
  const listingBudget = (deps.timeLeft() - deps.marginMs) / 2;
  const listingOver = () => outOfTime() || Date.now() - started > listingBudget;
  const census = new KeyCensus(now, msOf(config.sweepGrace), msOf(config.warnBefore));
  const onKeys = census.add.bind(census);

  const stored = await storedKeys(config.keySecretPrefix);
  let scan = await scanKeys(litellm, {
    filter: 'expired',
    concurrency,
    now,
    shouldStop: listingOver,
    onKeys,
  });
  let listErrors = scan.stoppedBy === 'error' ? 1 : 0;
  if (scan.filter === 'refused') {
    scan = await scanKeys(litellm, { concurrency, now, shouldStop: listingOver, onKeys });
  }
  const filtered = scan.filter === 'honoured';
  let complete = scan.complete;

  // A dry run deletes nothing: an empty list makes no call and gives an empty tally.
  const deletion = await deleteExpiredKeys(request.dryRun ? [] : census.expired, {
    litellm,
    keySecretPrefix: config.keySecretPrefix,
    concurrency,
    shouldStop: outOfTime,
    ...(stored ? { storedNames: new Set(stored.keys()) } : {}),
  });

  // The filtered listing held only expired keys; the live ones matter for warnings and orphans.
  if (filtered && complete) {
    try {
      const active = await scanKeys(litellm, {
        filter: 'active',
        concurrency,
        now,
        shouldStop: outOfTime,
        onKeys,
      });
      complete = active.complete;
      if (active.stoppedBy === 'error') listErrors++;
    } catch (error) {
      // Deletions are done; only warnings and orphan checks wait for the next run.
      log.error('could not list the live keys', { err: error });
      complete = false;
      listErrors++;
    }
  }

  const warnings =
    stored && !request.dryRun && complete
      ? await sendExpiryWarnings(census.expiring, { config, stored, concurrency, shouldStop: outOfTime })
      : undefined;
  const orphans =
    stored && complete && !outOfTime()
      ? await deleteOrphanSecrets([...stored.values()], {
          litellm,
          keySecretPrefix: config.keySecretPrefix,
          ourAliases: census.ourAliases,
          goneAliases: deletion.goneAliases,
          now,
          dryRun: request.dryRun,
          concurrency,
          shouldStop: outOfTime,
        })
      : undefined;

  const report: SweepReport = {
    scanned: census.scanned,
    managed: census.managed,
    expired: census.expired.length,
    deleted: deletion.deleted,
    deleted_by_package: Object.fromEntries(deletion.deletedByPackage),
    failed: deletion.failed,
    skipped_unmanaged: census.skippedUnmanaged,
    already_gone: deletion.alreadyGone,
    pending: deletion.pending,
    stored_keys_deleted: deletion.storedKeysDeleted,
    orphan_secrets: orphans?.found ?? 0,
    orphan_secrets_deleted: orphans?.deleted ?? 0,
    expiry_warnings: warnings?.sent ?? 0,
    listing: filtered ? 'expires-filter' : 'full',
    list_errors: listErrors,
    dry_run: request.dryRun,
    stopped_early:
      !complete || deletion.pending > 0 || (warnings?.pending ?? 0) > 0 || (stored !== undefined && !orphans),
    duration_ms: Date.now() - started,
    ...(request.dryRun ? { would_delete: census.expired.slice(0, DRY_RUN_ALIASES).map((k) => k.alias) } : {}),
  };
  return report;
}
