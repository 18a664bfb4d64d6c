import { LAB_EVENT_FUNCTIONS, type LabEventFunction } from './config.ts';

/** The fields of an EventBridge event: nothing else of a queued message reaches a function. */
const EVENT_FIELDS = [
  'version',
  'id',
  'detail-type',
  'source',
  'account',
  'time',
  'region',
  'resources',
  'detail',
] as const;

/** What a function is handed: those fields as queued (each function checks them as it checks EventBridge's). */
export type ForwardedEvent = Partial<Readonly<Record<(typeof EVENT_FIELDS)[number], unknown>>>;

export type QueuedEvent =
  | { readonly event: ForwardedEvent; readonly runBy: LabEventFunction }
  | { readonly refused: string };

/**
 * A queued message as the lab event it must be. Any principal allowed sqs:SendMessage on the queue
 * can queue a message, and provision, destroy and extend take one carrying `requestContext` and
 * `routeKey` for an HTTP request by the client its authorizer context names
 * (lib/middleware/http-or-lab-event.ts). So only a lab event of the lab-event rule's source is run,
 * rebuilt from the EventBridge fields alone: at most it acts as a lab event, as one put on the
 * lab-event bus would.
 */
export function queuedLabEvent(body: string, labEventSource: string): QueuedEvent {
  const refused = {
    refused: `a queued lab event must be ${Object.keys(LAB_EVENT_FUNCTIONS).join(', ')} from source ${labEventSource}, as EventBridge sends it`,
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refused;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return refused;
  const message = parsed as Record<string, unknown>;
  const detailType = message['detail-type'];
  if (message.source !== labEventSource || typeof detailType !== 'string') return refused;
  if (!Object.hasOwn(LAB_EVENT_FUNCTIONS, detailType)) return refused;
  const fields = EVENT_FIELDS.filter((name) => Object.hasOwn(message, name));
  return {
    event: Object.fromEntries(fields.map((name) => [name, message[name]])),
    runBy: LAB_EVENT_FUNCTIONS[detailType as keyof typeof LAB_EVENT_FUNCTIONS],
  };
}
