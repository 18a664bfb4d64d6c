import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { durationMs, parseDuration } from '../duration.ts';
import type { LabStore } from '../ledger/lab-store.ts';
import type { LeaseDeps } from '../ledger/lease.ts';
import { labsDue } from '../ledger/sweep-index.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import { log } from '../log.ts';
import { problemOf, toProblem } from '../problems.ts';
import type { Targets } from '../targets/target-connections.ts';
import { type DeletionTally, deleteExpiredKeys, newDeletionTally } from './delete-expired.ts';
import { DryRunGate } from './dry-run-gate.ts';
import { sendExpiryWarnings, type WarningTally } from './expiry-warnings.ts';
import { reconcile } from './reconcile.ts';
import { type SweepReport, sweepReport, type TargetOutcome } from './report.ts';
import type { SweepRequest } from './request.ts';

export interface SweepDeps {
  /** Every LiteLLM target of the deployment; each is swept on its own. */
  readonly targets: Targets;
  readonly store: LabStore;
  readonly config: Config;
  readonly now: Date;
  /** No new work is started past this; what is under way finishes and is reported. */
  readonly stopAt: Deadline;
  /** The run's leases: each lab is held only for its own short visit. */
  readonly lease: LeaseDeps;
  readonly reconcileGraceMs: number;
}

/** How long the sweep holds a lab it visits, if it stops holding it: a few LiteLLM calls' worth. */
const VISIT_LEASE_MS = 60_000;

/** A setting's duration (SWEEP_GRACE, WARN_BEFORE) in milliseconds; 0 if it has none. */
export function msOf(text: string): number {
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
  const table = config.labsTable;
  const lease = { ...deps.lease, leaseMs: VISIT_LEASE_MS };
  const outcomes = new Map<string, TargetOutcome>();
  const clients = new Map<string, { litellm: KeyApi; concurrency: number }>();
  for (const target of config.targets.values()) {
    const concurrency = Math.max(1, Math.min(16, target.maxConnections * 2));
    try {
      const { litellm } = await deps.targets.connect(target);
      clients.set(target.name, { litellm, concurrency });
      const deletion = await deleteExpiredKeys({
        labsDue: (before) => labsDue(table, before),
        store: deps.store,
        target: target.name,
        litellm,
        cutoff: new Date(now.getTime() - msOf(config.sweepGrace)),
        now,
        graceMs: deps.reconcileGraceMs,
        gate,
        concurrency,
        lease,
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
      lease,
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
        store: deps.store,
        target: name,
        litellm,
        budget: shouldStop() ? 0 : config.reconcileCalls,
        now,
        graceMs: deps.reconcileGraceMs,
        gate,
        concurrency,
        lease,
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
  const mapped = toProblem(error);
  return { deletion, reconciled: undefined, unavailable: problemOf(mapped).detail };
}
