import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { durationMs, parseDuration } from '../duration.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import { deleteExpiredKeys } from './delete-expired.ts';
import { DryRunGate } from './dry-run-gate.ts';
import { sendExpiryWarnings, type WarningTally } from './expiry-warnings.ts';
import { reconcile } from './reconcile.ts';
import { type SweepReport, sweepReport } from './report.ts';
import type { SweepRequest } from './request.ts';

export interface SweepDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly keyStore: KeyStore;
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
  const gate = new DryRunGate(request.dryRun);
  const concurrency = Math.max(1, Math.min(16, config.litellm.maxConnections * 2));
  const shouldStop = () => deps.stopAt.wouldPass();
  const table = deps.ledger.table;

  const deletion = await deleteExpiredKeys({
    table,
    litellm: deps.litellm,
    claims: deps.claims,
    keyStore: deps.keyStore,
    cutoff: new Date(now.getTime() - msOf(config.sweepGrace)),
    gate,
    concurrency,
    owner: deps.owner,
    shouldStop,
  });
  let warnings: WarningTally | undefined;
  await gate.change(async () => {
    warnings = await sendExpiryWarnings({
      table,
      claims: deps.claims,
      config,
      now,
      warnUntil: new Date(now.getTime() + msOf(config.warnBefore)),
      concurrency,
      shouldStop,
    });
  });
  const reconciled = await reconcile({
    table,
    ledger: deps.ledger,
    claims: deps.claims,
    litellm: deps.litellm,
    keyStore: deps.keyStore,
    budget: shouldStop() ? 0 : config.reconcileCalls,
    orphanMaxShare: config.orphanMaxShare,
    now,
    gate,
    concurrency,
    owner: deps.owner,
    shouldStop,
  }).catch((error: unknown) => {
    // Deletions and warnings are done; reconciliation waits for the next run.
    log.error('reconciliation failed', { err: error });
    return undefined;
  });
  return sweepReport({
    deletion,
    warnings,
    reconciled,
    dryRun: gate.dryRun,
    durationMs: Date.now() - started,
  });
}
