import middy from '@middy/core';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import type { Config } from '../config.ts';
import type { Problem } from '../errors.ts';
import { type BusEvent, putEvents } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { refuseLargeDetail } from '../http.ts';
import { publishOutcome } from '../metrics.ts';
import { logFailure, problemOf, toProblem } from '../problems.ts';
import { tracing } from '../tracing.ts';
import { loadInvocationDeps } from './invocation-deps.ts';
import { invocationLogContext } from './log-context.ts';

export type LabEvent = EventBridgeEvent<string, unknown>;
/** What a lab event or manual invoke that cannot succeed gets back once it is settled. */
export type Rejection = {
  readonly outcome: 'rejected';
  readonly status: number;
  readonly detail: string;
};

/** A lab event's fields are anyone's text, up to EventBridge's 256 KiB: logs and events keep 256 characters. */
const short = (value: unknown) => (typeof value === 'string' ? value.slice(0, 256) : undefined);

/** The parts of an EventBridge event (or a manual invoke's input) that failure handling reads. */
function labEventFields(event: unknown) {
  const field = (name: string): unknown =>
    typeof event === 'object' && event !== null ? Reflect.get(event, name) : undefined;
  const detail = field('detail');
  const guid = typeof detail === 'object' && detail !== null && 'guid' in detail ? detail.guid : undefined;
  return { detailType: field('detail-type'), id: field('id'), source: field('source'), detail, guid };
}

/** `Virtual Key Failed`: a lab event that cannot succeed however often it is retried. */
function failedEvent(event: unknown, error: Problem): BusEvent {
  const fields = labEventFields(event);
  return {
    detailType: DETAIL_TYPES.failed,
    detail: {
      ...(typeof fields.guid === 'string' ? { guid: fields.guid.slice(0, 256) } : {}),
      lab_event: { detail_type: short(fields.detailType), id: short(fields.id) },
      error: problemOf(error),
      reason: error.problem,
      trigger: 'event',
    },
  };
}

/**
 * Settles a permanent failure: a lab lifecycle event is answered on the bus with
 * `Virtual Key Failed`, a manual invoke gets its rejection back. Undefined when the failure must
 * be retried instead: it is not permanent, or its announcement did not get through (the event is
 * kept rather than dropped unannounced).
 */
async function settle(config: Config, event: unknown, error: Problem): Promise<Rejection | undefined> {
  if (!error.permanent) return undefined;
  const fields = labEventFields(event);
  if (typeof fields.detailType === 'string' && fields.source === config.labEventSource) {
    const undelivered = await putEvents(config, [failedEvent(event, error)]);
    if (undelivered.length > 0) return undefined;
  }
  return { outcome: 'rejected', status: error.status, detail: problemOf(error).detail };
}

/**
 * EventBridge lab events and direct invokes: a permanent failure (bad detail or input) is logged
 * and settled, so Lambda does not retry it; anything else is rethrown, so Lambda retries and
 * finally parks the event in the failure queue. `marginMs` of the invocation is kept back from
 * every call.
 */
export function labEventRoute<R, E = LabEvent>(
  config: Config,
  functionName: string,
  handler: (event: E, context: Context) => Promise<R>,
  options = { marginMs: 1000 },
) {
  const handle = middy<E, R | Rejection>()
    .use(tracing())
    .use(invocationLogContext(functionName))
    .use({
      onError: async (request) => {
        const mapped = toProblem(request.error);
        const fields = labEventFields(request.event);
        logFailure(`${functionName} failed`, request.error, mapped, {
          detail_type: short(fields.detailType),
          event_id: short(fields.id),
          guid: short(fields.guid),
        });
        publishOutcome(functionName, mapped.status);
        const rejection = await settle(config, request.event, mapped);
        if (rejection) request.response = rejection;
      },
    })
    .before((request) => refuseLargeDetail(labEventFields(request.event).detail))
    .use(loadInvocationDeps(config, options.marginMs))
    .handler(handler);
  return (event: E, context: Context): Promise<R | Rejection> => handle(event, context);
}
