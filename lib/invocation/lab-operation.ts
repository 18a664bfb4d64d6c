import { requireScope } from '../auth/access.ts';
import type { Scope } from '../auth/client-grants.ts';
import type { Config } from '../config.ts';
import { announce, type BusEvent } from '../events/bus.ts';
import type { Lifecycle, OperationRequest, Trigger } from '../lab/lifecycle.ts';
import { log } from '../log.ts';
import { type KeyMetric, publishKeyCounts } from '../metrics.ts';
import type { InvocationDeps } from './deps.ts';

/** One lab operation (provision, destroy, extend) as the triggers run it. */
export interface LabOperation<Request, Outcome> {
  /** The operation's name in metrics. */
  readonly name: 'provision' | 'destroy' | 'extend';
  /** The scope a caller needs, and what it is needed for (the 403 says it). */
  readonly scope: Scope;
  readonly scopeNeededFor: string;
  readonly parse: (input: unknown, trigger: Trigger, config: Config) => Request;
  readonly run: (
    request: Request,
    deps: InvocationDeps & { readonly lifecycle: Lifecycle },
  ) => Promise<Outcome>;
  /** The log line's message and fields. */
  readonly logLine: (outcome: Outcome) => readonly [string, Record<string, unknown>];
  /** The key metric, with its count per package. */
  readonly counts: (
    outcome: Outcome,
  ) => readonly [KeyMetric, ReadonlyMap<string, number> | Readonly<Record<string, number>>];
  readonly resultEvent: (outcome: Outcome, trigger: Trigger) => BusEvent;
}

/**
 * What every lab operation does around its own run, in this order: the caller's scope checked,
 * its input parsed (nothing is touched before both pass), the run, then the outcome logged,
 * counted and announced as a result event.
 */
export async function runLabOperation<Request, Outcome>(
  operation: LabOperation<Request, Outcome>,
  { input, lifecycle }: OperationRequest,
  deps: InvocationDeps,
): Promise<Outcome> {
  requireScope(lifecycle.caller, operation.scope, operation.scopeNeededFor);
  const { trigger } = lifecycle;
  const request = operation.parse(input, trigger, deps.config);
  const outcome = await operation.run(request, { ...deps, lifecycle });
  const [message, fields] = operation.logLine(outcome);
  log.info(message, { ...fields, trigger });
  const [metric, perPackage] = operation.counts(outcome);
  publishKeyCounts(metric, operation.name, perPackage);
  await announce(deps.config, operation.resultEvent(outcome, trigger), trigger);
  return outcome;
}
