import { requireScope } from '../auth/access.ts';
import type { Scope } from '../auth/client-grants.ts';
import type { Config } from '../config.ts';
import { announce, type BusEvent } from '../events/bus.ts';
import type { Lifecycle, OperationRequest, Trigger } from '../lab/lifecycle.ts';
import type { Lab } from '../ledger/lab-record.ts';
import { log } from '../log.ts';
import { type KeyMetric, publishKeyCounts } from '../metrics.ts';
import { takeOverRoleMadeLab } from '../role-made/take-over.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import type { InvocationDeps, TargetedDeps } from './deps.ts';

/** What a lab operation's run is given: the lab's target connected, who asked, and the ledger as first read. */
export type LabOperationDeps = TargetedDeps & {
  readonly lifecycle: Lifecycle;
  /** The lab as the ledger held it before the operation began; the run works on it as leased. */
  readonly known: Lab;
};

/** One lab operation (provision, destroy, extend, move) as the triggers run it. */
export interface LabOperation<Request extends { readonly guid: string }, Outcome> {
  /** The operation's name in metrics. */
  readonly name: 'provision' | 'destroy' | 'extend' | 'move';
  /** The scope a caller needs, and what it is needed for (the 403 says it). */
  readonly scope: Scope;
  readonly scopeNeededFor: string;
  /** Whether it takes over a lab whose keys the Ansible role made, during the cut-over (lib/role-made/). */
  readonly takesOverRoleMade?: boolean;
  readonly parse: (input: unknown, trigger: Trigger, config: Config) => Request;
  /** The LiteLLM target the request goes to, from what the ledger holds of the lab. */
  readonly targetOf: (
    request: Request,
    lab: Lab,
    deps: InvocationDeps & { readonly lifecycle: Lifecycle },
  ) => LiteLlmTarget;
  readonly run: (request: Request, deps: LabOperationDeps) => Promise<Outcome>;
  /** The log line's message and fields. */
  readonly logLine: (outcome: Outcome) => readonly [string, Record<string, unknown>];
  /** The key metric, with its count per package. */
  readonly counts: (
    outcome: Outcome,
  ) => readonly [KeyMetric, ReadonlyMap<string, number> | Readonly<Record<string, number>>];
  /** The result event; none when the outcome changed nothing that was not announced before. */
  readonly resultEvent: (outcome: Outcome, trigger: Trigger) => BusEvent | undefined;
}

/**
 * What every lab operation does around its own run, in this order: the caller's scope checked,
 * its input parsed (nothing is touched before both pass), a role-made lab taken over where the
 * operation does that, the lab's target found and connected
 * (its master key read), the run, then the outcome logged, counted and announced as a result
 * event carrying the target.
 */
export async function runLabOperation<Request extends { readonly guid: string }, Outcome>(
  operation: LabOperation<Request, Outcome>,
  { input, lifecycle }: OperationRequest,
  deps: InvocationDeps,
): Promise<Outcome> {
  requireScope(lifecycle.caller, operation.scope, operation.scopeNeededFor);
  const { trigger } = lifecycle;
  const request = operation.parse(input, trigger, deps.config);
  const read = await deps.store.read(request.guid);
  const known = operation.takesOverRoleMade ? await takeOverRoleMadeLab(read, lifecycle.caller, deps) : read;
  const target = operation.targetOf(request, known, { ...deps, lifecycle });
  const connected = await deps.targets.connect(target);
  const outcome = await operation.run(request, { ...deps, ...connected, lifecycle, known });
  const [message, fields] = operation.logLine(outcome);
  log.info(message, { ...fields, trigger, target: target.name });
  const [metric, perPackage] = operation.counts(outcome);
  publishKeyCounts(metric, operation.name, perPackage);
  const event = operation.resultEvent(outcome, trigger);
  if (!event) return outcome;
  await announce(
    deps.config,
    { ...event, detail: { ...event.detail, litellm_target: target.name } },
    trigger,
  );
  return outcome;
}
