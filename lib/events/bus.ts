import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { Config } from '../config.ts';
import { UnavailableError } from '../errors.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import { log } from '../log.ts';
import { traced } from '../tracer-state.ts';

/** The `source` of every event this service puts on the bus. */
export const EVENT_SOURCE = 'litellm.virtual-keys';

/** PutEvents takes at most 10 entries per call. */
const ENTRIES_PER_CALL = 10;

export interface BusEvent {
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

let client: EventBridgeClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
function eventBridge(): EventBridgeClient {
  client ??= traced(new EventBridgeClient({}));
  return client;
}

/**
 * Put `events` on the service's bus, ten per call. Returns the events that did not get on it (a
 * failed call, or entries PutEvents refused); the caller decides whether that matters.
 */
export async function putEvents(
  config: Pick<Config, 'eventBusName'>,
  events: readonly BusEvent[],
): Promise<BusEvent[]> {
  const failed: BusEvent[] = [];
  for (let start = 0; start < events.length; start += ENTRIES_PER_CALL) {
    const chunk = events.slice(start, start + ENTRIES_PER_CALL);
    const entries: PutEventsRequestEntry[] = chunk.map((event) => ({
      EventBusName: config.eventBusName,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
    }));
    try {
      const out = await eventBridge().send(new PutEventsCommand({ Entries: entries }));
      (out.Entries ?? []).forEach((entry, index) => {
        if (entry.ErrorCode) failed.push(chunk[index] as BusEvent);
      });
    } catch (error) {
      log.warn('PutEvents failed', { err: error, events: chunk.length });
      failed.push(...chunk);
    }
  }
  if (failed.length > 0) log.warn('events not delivered', { count: failed.length });
  return failed;
}

/**
 * Put a result event on the bus. After an HTTP call the caller already has the answer, so an event
 * that does not get through is logged; after a lab event it is thrown as unavailable, so Lambda
 * retries the (idempotent) run and the announcement with it.
 */
export async function announce(
  config: Pick<Config, 'eventBusName'>,
  event: BusEvent,
  trigger: Trigger,
): Promise<void> {
  const undelivered = await putEvents(config, [event]);
  if (undelivered.length === 0) return;
  if (trigger === 'event') {
    throw new UnavailableError(`EventBridge did not take the "${event.detailType}" event`);
  }
  log.error('result event not delivered', { detail_type: event.detailType, guid: event.detail.guid });
}
