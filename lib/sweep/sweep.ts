import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { durationMs, parseDuration } from '../duration.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import { deleteExpiredKeys } from './delete-expired.ts';
import { sendExpiryWarnings } from './expiry-warnings.ts';
import { reconcile } from './reconcile.ts';
import { DRY_RUN_ALIASES, type SweepReport } from './report.ts';
import type { SweepRequest } from './request.ts';

export interface SweepDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly config: Config;
  readonly now: Date;
  /** No new work is started past this; what is under way finishes and is reported. */
  readonly stopAt: Deadline;
  /** Unique per run: the owner of its claims. */
  readonly owner: string;
}

function msOf(text: string): number {
  const duration = parseDuration(text);
  return duration ? durationMs(duration) : 0;
}

/**
 * The nightly sweep works from the ledger, not from LiteLLM's whole key table: delete the expired
 * keys of ours it records (re-read from LiteLLM right before), warn of those expiring soon, then
 * spend a bounded number of LiteLLM calls finding where LiteLLM and the ledger disagree. What is
 * left for lack of time, the next run picks up; nothing is done twice.
 */
export async function runSweep(request: SweepRequest, deps: SweepDeps): Promise<SweepReport> {
  const { config, now } = deps;
  const started = Date.now();
  const concurrency = Math.max(1, Math.min(16, config.litellm.maxConnections * 2));
  const outOfTime = () => deps.stopAt.wouldPass();
  const table = deps.ledger.table;

  const deletion = await deleteExpiredKeys({
    table,
    litellm: deps.litellm,
    claims: deps.claims,
    cutoff: new Date(now.getTime() - msOf(config.sweepGrace)),
    dryRun: request.dryRun,
    concurrency,
    owner: deps.owner,
    shouldStop: outOfTime,
  });
  const warnings = request.dryRun
    ? undefined
    : await sendExpiryWarnings({
        table,
        claims: deps.claims,
        config,
        now,
        warnUntil: new Date(now.getTime() + msOf(config.warnBefore)),
        concurrency,
        shouldStop: outOfTime,
      });
  const reconciled = await reconcile({
    table,
    ledger: deps.ledger,
    claims: deps.claims,
    litellm: deps.litellm,
    keySecretPrefix: config.keySecretPrefix,
    budget: outOfTime() ? 0 : config.reconcileCalls,
    orphanMaxShare: config.orphanMaxShare,
    now,
    dryRun: request.dryRun,
    concurrency,
    owner: deps.owner,
    shouldStop: outOfTime,
  }).catch((error: unknown) => {
    // Deletions and warnings are done; reconciliation waits for the next run.
    log.error('reconciliation failed', { err: error });
    return undefined;
  });

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
    dry_run: request.dryRun,
    stopped_early: deletion.pending > 0 || (warnings?.pending ?? 0) > 0 || reconciled === undefined,
    duration_ms: Date.now() - started,
    ...(request.dryRun ? { would_delete: deletion.aliases.slice(0, DRY_RUN_ALIASES) } : {}),
  };
}
