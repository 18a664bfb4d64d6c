import { createHash } from 'node:crypto';
import { NAME_PATTERN } from '../schemas.ts';

/**
 * Where a lab event waits in the FIFO queue: its lab's message group, so one lab's events run in
 * the order they arrived while other labs go on. A guid the functions would refuse (none, or not
 * a lab name) cannot name a group: such events share one group, whose name no guid can take, and
 * each is refused, with its `Virtual Key Failed`, when its turn comes.
 */
export const UNUSABLE_GUID_GROUP = '_no-usable-guid';

/** SQS's rule for group and deduplication ids: 1-128 printable ASCII characters. */
const SQS_ID = /^[\x21-\x7e]{1,128}$/;

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;

export function messageGroupOf(event: unknown): string {
  const guid = field(field(event, 'detail'), 'guid');
  return typeof guid === 'string' && NAME_PATTERN.test(guid) ? guid : UNUSABLE_GUID_GROUP;
}

/**
 * EventBridge's event id, so a redelivered event is queued once (within SQS's five-minute window;
 * the functions' stale-event and repeat handling cover later copies); an event without a usable id
 * is named by its content.
 */
export function deduplicationIdOf(event: unknown, body: string): string {
  const id = field(event, 'id');
  if (typeof id === 'string' && SQS_ID.test(id)) return id;
  return createHash('sha256').update(body).digest('hex');
}
