import { addDuration, parseDuration } from '../duration.ts';
import { type FieldError, Problem } from '../errors.ts';
import { log } from '../log.ts';
import type { Caller, Scope } from './client-grants.ts';

/** The API client lacks a scope the route needs. */
export class MissingScopeError extends Problem {
  override name = 'MissingScopeError';
  constructor(caller: Caller, scope: Scope, why: string) {
    super(
      403,
      'missing-scope',
      'Missing scope',
      `API client ${caller.client} lacks the scope "${scope}" ${why}`,
    );
  }
}

/** A new lab for a client that already holds as many live labs as its cap allows. */
export class LiveLabsCapError extends Problem {
  override name = 'LiveLabsCapError';
  constructor(caller: Caller, count: number, cap: number) {
    super(
      429,
      'client-live-labs-cap',
      'Too many live labs',
      `API client ${caller.client} has ${count} live labs, its cap max_live_labs is ${cap}; nothing was created: destroy one of its labs first`,
    );
  }
}

/** The request asks for more than the API client's limits allow. */
export class LimitExceededError extends Problem {
  override name = 'LimitExceededError';
  constructor(caller: Caller, errors: readonly FieldError[]) {
    super(
      403,
      'limit-exceeded',
      'Beyond the client’s limits',
      `the request exceeds limits of API client ${caller.client}: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
      errors,
    );
  }
}

export function requireScope(caller: Caller, scope: Scope, why: string): void {
  if (!caller.scopes.has(scope)) throw new MissingScopeError(caller, scope, why);
}

export interface ProvisionAsk {
  readonly packageName: string;
  readonly customModels: boolean;
  readonly models: readonly string[];
  readonly maxBudget: number | null;
  readonly duration: string;
  /** Users the lab will have (a single-user lab: 1). */
  readonly users: number;
}

/** The longest instant a term reaches from now; months as the calendar has them. */
const reach = (duration: string, from: Date) => {
  const parsed = parseDuration(duration);
  return parsed ? addDuration(from, parsed).getTime() : Number.POSITIVE_INFINITY;
};

/** Every limit of the client that the provision exceeds, each named; none when within them. */
export function checkProvisionLimits(caller: Caller, ask: ProvisionAsk, now = new Date()): void {
  const limits = caller.limits;
  const errors: FieldError[] = [];
  if (limits.packages && !limits.packages.includes(ask.packageName)) {
    errors.push({
      field: 'package',
      message: `is not among the client's packages (limit packages: ${limits.packages.join(', ') || 'none'})`,
    });
  }
  if (ask.customModels && limits.models !== undefined && limits.models !== true) {
    const allowed = limits.models === false ? [] : limits.models;
    const refused = ask.models.filter((model) => !allowed.includes(model));
    if (refused.length > 0) {
      errors.push({
        field: 'models',
        message:
          limits.models === false
            ? 'may not be chosen by this client (limit models: false)'
            : `${refused.join(', ')} not allowed (limit models: ${allowed.join(', ')})`,
      });
    }
  }
  if (limits.require_budget && ask.maxBudget === null) {
    errors.push({ field: 'max_budget', message: 'is required for this client (limit require_budget)' });
  } else if (
    limits.max_budget !== undefined &&
    (ask.maxBudget === null || ask.maxBudget > limits.max_budget)
  ) {
    errors.push({
      field: 'max_budget',
      message: `${ask.maxBudget === null ? 'unlimited' : ask.maxBudget} exceeds the client's limit max_budget (${limits.max_budget})`,
    });
  }
  if (limits.max_duration && reach(ask.duration, now) > reach(limits.max_duration, now)) {
    errors.push({
      field: 'duration',
      message: `${ask.duration} exceeds the client's limit max_duration (${limits.max_duration})`,
    });
  }
  if (limits.max_users !== undefined && ask.users > limits.max_users) {
    errors.push({
      field: 'users',
      message: `${ask.users} users exceed the client's limit max_users (${limits.max_users})`,
    });
  }
  if (errors.length > 0) throw new LimitExceededError(caller, errors);
}

/** An extension may not reach past the client's longest term from now. */
export function checkExtendLimits(
  caller: Caller,
  field: 'duration' | 'expires',
  expiresAt: Date,
  now = new Date(),
): void {
  const max = caller.limits.max_duration;
  if (!max || expiresAt.getTime() <= reach(max, now)) return;
  throw new LimitExceededError(caller, [
    {
      field,
      message: `reaches ${expiresAt.toISOString()}, beyond the client's limit max_duration (${max}) from now`,
    },
  ]);
}

/** Every raw key handed out of storage is on record: who read which lab's keys (never the keys). */
export function logRawKeyRead(caller: Caller, guid: string, aliases: readonly string[]): void {
  if (aliases.length > 0) log.info('raw key read', { client: caller.client, guid, aliases });
}

/** A client limited to some targets may place (provision, move) labs only there. */
export function checkTargetLimit(caller: Caller, target: string, field = 'target'): void {
  const allowed = caller.limits.targets;
  if (!allowed || allowed.includes(target)) return;
  throw new LimitExceededError(caller, [
    {
      field,
      message: `LiteLLM target ${target} is not among the client's targets (limit targets: ${allowed.join(', ') || 'none'})`,
    },
  ]);
}

/**
 * A client with a `max_live_labs` cap may start a new lab only below it; `count` is asked only
 * then, so clients without a cap cost no query. Two new labs provisioned at once both see the
 * count before either is written (and the index lags its table by a moment), so a client may end
 * one or a few labs over its cap: as many as its provisions that run at once, bounded by the
 * function's reserved concurrency. That is acceptable for a guard against a runaway client, and
 * its next provision is refused; closing the race would take a counter kept in step with every
 * write of every lab.
 */
export async function checkLiveLabsCap(caller: Caller, count: () => Promise<number>): Promise<void> {
  const cap = caller.limits.max_live_labs;
  if (cap === undefined) return;
  const live = await count();
  if (live >= cap) throw new LiveLabsCapError(caller, live, cap);
}
