import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { durationMs, parseDuration } from '../duration.ts';
import { problemOf, toHttpError } from '../http.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import { DEFAULT_TARGET } from '../target-config.ts';
import type { TargetConnections } from '../targets/target-connections.ts';
import { type DeletionTally, deleteExpiredKeys, newDeletionTally } from './delete-expired.ts';
import { DryRunGate } from './dry-run-gate.ts';
import { sendExpiryWarnings, type WarningTally } from './expiry-warnings.ts';
import { reconcile } from './reconcile.ts';
import { type SweepReport, sweepReport, type TargetOutcome } from './report.ts';
import type { SweepRequest } from './request.ts';

export interface SweepDeps {
  /** Every LiteLLM target of the deployment; each is swept on its own. */
  readonly targets: TargetConnections;
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
 * left for lack of time, the next run picks up; nothing is done twice. Each LiteLLM target is
 * swept with its own client: one that cannot be reached is reported, and the others are swept.
 */
export async function runSweep(request: SweepRequest, deps: SweepDeps): Promise<SweepReport> {
  const { config, now } = deps;
  const started = Date.now();
  const gate = new DryRunGate(request.dryRun);
  const shouldStop = () => deps.stopAt.wouldPass();
  const table = deps.ledger.table;
  const outcomes = new Map<string, TargetOutcome>();
  const clients = new Map<string, { litellm: LiteLlmClient; concurrency: number }>();
  for (const target of config.targets.values()) {
    const concurrency = Math.max(1, Math.min(16, target.maxConnections * 2));
    try {
      const { litellm } = await deps.targets.connect(target);
      clients.set(target.name, { litellm, concurrency });
      const deletion = await deleteExpiredKeys({
        table,
        target: target.name,
        litellm,
        claims: deps.claims,
        keyStore: deps.keyStore,
        cutoff: new Date(now.getTime() - msOf(config.sweepGrace)),
        gate,
        concurrency,
        owner: deps.owner,
        shouldStop,
      });
      outcomes.set(target.name, { deletion, reconciled: undefined });
    } catch (error) {
      outcomes.set(target.name, unreachable(target.name, newDeletionTally(), error));
    }
  }
  let warnings: WarningTally | undefined;
  await gate.change(async () => {
    warnings = await sendExpiryWarnings({
      table,
      claims: deps.claims,
      config,
      now,
      warnUntil: new Date(now.getTime() + msOf(config.warnBefore)),
      concurrency: Math.max(1, Math.min(16, config.litellm.maxConnections * 2)),
      shouldStop,
    });
  });
  for (const [name, { litellm, concurrency }] of clients) {
    const { deletion } = outcomes.get(name) ?? { deletion: newDeletionTally() };
    try {
      const reconciled = await reconcile({
        table,
        target: name,
        orphans: name === DEFAULT_TARGET,
        ledger: deps.ledger,
        claims: deps.claims,
        litellm,
        keyStore: deps.keyStore,
        budget: shouldStop() ? 0 : config.reconcileCalls,
        orphanMaxShare: config.orphanMaxShare,
        now,
        gate,
        concurrency,
        owner: deps.owner,
        shouldStop,
      });
      outcomes.set(name, { deletion, reconciled });
    } catch (error) {
      // Deletions and warnings are done; reconciliation waits for the next run.
      outcomes.set(name, unreachable(name, deletion, error));
    }
  }
  return sweepReport({ targets: outcomes, warnings, dryRun: gate.dryRun, durationMs: Date.now() - started });
}

/**
 * A target the sweep could not reach, or not finish (its master key unreadable, the proxy down):
 * logged and reported with what was done there, never fatal to the other targets.
 */
function unreachable(target: string, deletion: DeletionTally, error: unknown): TargetOutcome {
  log.error('a LiteLLM target could not be swept; it is left for the next run', { err: error, target });
  const mapped = toHttpError(error);
  return { deletion, reconciled: undefined, unavailable: problemOf(mapped).detail };
}
