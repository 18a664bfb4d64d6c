import type { APIGatewayProxyEventV2, EventBridgeEvent } from 'aws-lambda';
import { authorizerContextOf } from '../auth/authorizer-context.ts';
import { type Caller, httpCaller, labEventCaller } from '../auth/client-grants.ts';
import { Problem } from '../errors.ts';
import type { Lab } from '../ledger/lab-record.ts';

/** What asked for a change: an HTTP call or a lab lifecycle event (also a manual invoke's stand-in for one). */
export type Trigger = 'http' | 'event';

/** When and how a lifecycle change was asked for: a lab event's `time`, or an HTTP request's arrival. */
export interface Lifecycle {
  readonly trigger: Trigger;
  readonly occurredAt: Date;
  /** The API client (with its scopes and limits), or the lab event source, asking. */
  readonly caller: Caller;
}

/** A lifecycle time given by a caller is used only when it is plausible (within two days of now). */
function plausible(epochMs: number | undefined): Date {
  const now = Date.now();
  return epochMs !== undefined && Math.abs(epochMs - now) < 86_400_000 * 2
    ? new Date(epochMs)
    : new Date(now);
}

/** An HTTP request is fresh: it happened when API Gateway received it; the client is the authorizer's. */
export function httpLifecycle(event: APIGatewayProxyEventV2): Lifecycle {
  return {
    trigger: 'http',
    occurredAt: plausible(event.requestContext?.timeEpoch),
    caller: httpCaller(authorizerContextOf(event)),
  };
}

/** A lab event happened at its `time`, however late it arrives. */
export function eventLifecycle(event: EventBridgeEvent<string, unknown>): Lifecycle {
  const time = Date.parse(String(event.time));
  return {
    trigger: 'event',
    occurredAt: Number.isNaN(time) ? new Date() : new Date(time),
    caller: labEventCaller(String(event.source)),
  };
}

/** What a trigger hands an operation: the caller's input as it came, and who asked, when and how. */
export interface OperationRequest {
  readonly input: unknown;
  readonly lifecycle: Lifecycle;
}

/** A lab event older than what the ledger already applied: it must not undo it. */
export class StaleEventError extends Problem {
  override name = 'StaleEventError';
  constructor(detail: string) {
    super(409, 'stale-event', 'Stale lab event', detail);
  }
}

const at = (date: Date) => date.toISOString();

/**
 * Lab events are delivered at least once and late (retries, replays of parked events): one older
 * than the lab's destroy must not bring the lab back, and an extend or destroy older than the start
 * of the lab's current generation (its provision after a destroy) belongs to an earlier one and
 * must not touch the new keys. HTTP requests are always fresh.
 */
export function refuseStaleEvent(
  kind: 'provision' | 'extend' | 'destroy',
  lifecycle: Lifecycle,
  lab: Lab,
): void {
  if (lifecycle.trigger !== 'event' || !lab.state) return;
  const time = at(lifecycle.occurredAt);
  if (lab.state === 'destroyed' && lab.destroyedAt && kind !== 'destroy' && time <= lab.destroyedAt) {
    throw new StaleEventError(
      `the ${kind} event of lab ${lab.guid} (time ${time}) is older than the lab's destroy (${lab.destroyedAt}); it is not applied`,
    );
  }
  if (lab.state !== 'destroyed' && lab.startedAt && kind !== 'provision' && time < lab.startedAt) {
    throw new StaleEventError(
      `the ${kind} event of lab ${lab.guid} (time ${time}) is older than the lab's current provision (${lab.startedAt}); it is not applied`,
    );
  }
}

/** The lab holds keys now, or may (provisioning). */
export function isLive(lab: Lab): boolean {
  return lab.state === 'provisioning' || lab.state === 'active';
}
