import type { Caller } from '../auth/client-grants.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import { kmsReachable, ledgerReachable, type Reachable } from './aws-reachable.ts';
import { type TargetHealth, targetHealth } from './litellm-readiness.ts';

/** GET /health's answer: `ok` only when every part is, every target included. */
export interface HealthReport {
  readonly status: 'ok' | 'failing';
  readonly targets: Readonly<Record<string, TargetHealth>>;
  readonly ledger: Reachable;
  readonly kms: Reachable;
}

/** The report of every target, and what each failing target's failure was, for the log alone. */
export interface HealthCheck {
  readonly report: HealthReport;
  readonly details: Readonly<Record<string, string>>;
}

/** Every LiteLLM target, the ledger and KMS asked at once; a part that fails is reported, never thrown. */
export async function checkHealth(deps: InvocationDeps): Promise<HealthCheck> {
  const names = deps.targets.names;
  const [checks, ledger, kms] = await Promise.all([
    Promise.all(names.map((name) => targetHealth(deps.targets.recorded(name), deps.targets, deps.deadline))),
    ledgerReachable(deps.config.labsTable),
    kmsReachable(deps.config.keyValuesKmsKeyId),
  ]);
  const ok = checks.every((check) => check.health.ready) && ledger.reachable && kms.reachable;
  const details: Record<string, string> = {};
  names.forEach((name, index) => {
    const detail = checks[index]?.detail;
    if (detail) details[name] = detail;
  });
  return {
    report: {
      status: ok ? 'ok' : 'failing',
      targets: Object.fromEntries(names.map((name, index) => [name, checks[index]?.health as TargetHealth])),
      ledger,
      kms,
    },
    details,
  };
}

/**
 * The report as a client sees it: only the targets it may place labs on (its `targets` limit; all
 * without one). The status stays the whole service's: a client learns that it fails, not where.
 */
export function reportFor(caller: Caller, report: HealthReport): HealthReport {
  const allowed = caller.limits.targets;
  if (!allowed) return report;
  const targets = Object.entries(report.targets).filter(([name]) => allowed.includes(name));
  return { ...report, targets: Object.fromEntries(targets) };
}
