/**
 * What identifies the call an invocation serves, beyond Lambda's own request id: API Gateway's
 * request id for an HTTP request, the event's id for a lab event (or the sweep's schedule). Set by
 * each chain's log context at the start of an invocation (Lambda runs one at a time per
 * container), read by every log line and by the result events the invocation announces.
 */
export interface RequestIds {
  /** API Gateway's `requestContext.requestId`: also in its access log, so a call is followed end to end. */
  readonly api_request_id?: string;
  /** The EventBridge event's `id`. */
  readonly lab_event_id?: string;
}

let current: RequestIds = {};

/** Ids are anyone's text (a lab event's fields, up to 256 KiB): 256 characters are kept. */
const shortText = (value: unknown) => (typeof value === 'string' && value ? value.slice(0, 256) : undefined);

/** The ids an event carries: an HTTP request's (payload 2.0, authorizer requests too), or an EventBridge event's. */
export function requestIdsOf(event: unknown): RequestIds {
  if (typeof event !== 'object' || event === null) return {};
  const context: unknown = Reflect.get(event, 'requestContext');
  const apiRequestId =
    typeof context === 'object' && context !== null
      ? shortText(Reflect.get(context, 'requestId'))
      : undefined;
  if (apiRequestId) return { api_request_id: apiRequestId };
  const eventId = 'detail-type' in event ? shortText(Reflect.get(event, 'id')) : undefined;
  return eventId ? { lab_event_id: eventId } : {};
}

export function setRequestIds(ids: RequestIds): void {
  current = ids;
}

/** The current invocation's ids, as result events carry them. */
export function currentRequestIds(): RequestIds {
  return current;
}
