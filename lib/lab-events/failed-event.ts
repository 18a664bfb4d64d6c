import type { Problem } from '../errors.ts';
import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { problemOf } from '../problems.ts';

/** A lab event's fields are anyone's text: events keep 256 characters of each. */
const short = (value: unknown) => (typeof value === 'string' ? value.slice(0, 256) : undefined);

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;

/** What a queued lab event is called in logs and in its `Virtual Key Failed`. */
export function labEventNames(event: unknown) {
  return {
    detailType: short(field(event, 'detail-type')),
    id: short(field(event, 'id')),
    guid: short(field(field(event, 'detail'), 'guid')),
  };
}

/**
 * `Virtual Key Failed` for a lab event the queue gives up on, in the shape the functions announce
 * their refusals with (lib/middleware/lab-event.ts); `reason` is `parked` for one whose retries ran out.
 */
export function labEventFailed(event: unknown, problem: Problem, reason: string): BusEvent {
  const names = labEventNames(event);
  return {
    detailType: DETAIL_TYPES.failed,
    detail: {
      ...(names.guid === undefined ? {} : { guid: names.guid }),
      lab_event: { detail_type: names.detailType ?? '', id: names.id },
      error: problemOf(problem),
      reason,
      trigger: 'event',
    },
  };
}
