import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { BadRequestError } from '../errors.ts';
import { putEvents } from '../events/bus.ts';
import { log } from '../log.ts';
import { publishLabEventParked } from '../metrics.ts';
import type { RouterConfig } from './config.ts';
import { labEventFailed, labEventNames } from './failed-event.ts';
import { errorTypeOf, LabEventRunFailed, runLabEvent } from './invoke-function.ts';
import { parkedProblem, parkRecord } from './parking.ts';
import { queuedLabEvent } from './queued-event.ts';
import { retryDelaySeconds } from './retry-schedule.ts';
import { sqs } from './sqs-client.ts';

/** Why a run failed: `type` may be announced, `message` (which may quote a function's error) only logged. */
interface Failure {
  readonly type: string;
  readonly message: string;
}

function bodyOf(record: SQSRecord): unknown {
  try {
    return JSON.parse(record.body);
  } catch {
    return undefined;
  }
}

const receivesOf = (record: SQSRecord) => Math.max(1, Number(record.attributes.ApproximateReceiveCount) || 1);

const logFields = (record: SQSRecord) => {
  const names = labEventNames(bodyOf(record));
  return {
    detail_type: names.detailType,
    event_id: names.id,
    guid: names.guid,
    message_id: record.messageId,
    receive_count: receivesOf(record),
  };
};

/**
 * A queued message that is no lab event of the rule's source (hand-sent, or redriven): refused and
 * announced, like any other lab event that cannot succeed, and nothing run.
 */
async function refuse(config: RouterConfig, record: SQSRecord, why: string): Promise<void> {
  const problem = new BadRequestError(why);
  const undelivered = await putEvents(config, [labEventFailed(bodyOf(record), problem, problem.problem)]);
  if (undelivered.length > 0)
    throw new LabEventRunFailed('the refusal of a queued message was not announced', 'EventNotDelivered');
  log.warn('queued message refused: not a lab event of the lab-event source', logFields(record));
}

/** One queued lab event, run by its function; throws when it must be tried again. */
async function applyRecord(config: RouterConfig, record: SQSRecord): Promise<void> {
  const queued = queuedLabEvent(record.body, config.labEventSource);
  if ('refused' in queued) return refuse(config, record, queued.refused);
  const settled = await runLabEvent(config, queued.runBy, queued.event);
  log.info(settled === 'applied' ? 'lab event applied' : 'lab event refused', logFields(record));
}

/** The queue hides the event until its next attempt is due (SQS counts the delay from now). */
async function retryIn(config: RouterConfig, record: SQSRecord, seconds: number): Promise<void> {
  try {
    await sqs().send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: config.queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (error) {
    // The event comes back after the queue's own visibility timeout instead.
    log.warn('lab event retry delay not set', { err: error, message_id: record.messageId });
  }
}

/**
 * Its retries are spent: the record goes to the parked queue, RHDP is told with `Virtual Key
 * Failed` (reason `parked`) and LabEventsParked counts it for the alarm. False when the parked
 * queue did not take it: it stays in the lab-event queue, to be parked when it fails again.
 */
async function park(config: RouterConfig, record: SQSRecord, failure: Failure): Promise<boolean> {
  const event = bodyOf(record);
  try {
    await parkRecord(config, record, event);
  } catch (error) {
    log.error('lab event not parked: kept in the queue', {
      ...logFields(record),
      why: failure.message,
      err: error,
    });
    return false;
  }
  publishLabEventParked();
  const problem = parkedProblem(config, event, receivesOf(record), failure.type);
  const undelivered = await putEvents(config, [labEventFailed(event, problem, 'parked')]);
  log.error(undelivered.length > 0 ? 'lab event parked, not announced' : 'lab event parked', {
    ...logFields(record),
    why: failure.message,
  });
  return true;
}

/**
 * What becomes of the batch's failed records, in the batch's order (a lab's failed event comes
 * before the later ones the FIFO processor held back behind it): the ids of those parked, which
 * the event source mapping may then delete.
 *
 * Only a record that was run and failed is parked, once SQS has handed it out
 * LAB_EVENT_MAX_RECEIVES times; a record held back behind its lab's earlier event is never parked.
 * It waits as long as that event, or, when that event was parked, becomes visible at once to run
 * next. Its receive count still grows while it waits (SQS raises it on every hand-out), and SQS
 * keeps nothing else per message: an event held back behind a failing one looks, by count, age and
 * first receive, exactly like one that failed each time. So a later event that waited the whole
 * span behind its lab's parked event is parked at its first own failure (and, short of the count,
 * waits the delay of its count, not a minute). That is the rule: it has waited the day a lab event
 * is promised, its lab is already in the parked queue and the alarm has fired, and a redrive of the
 * parked queue runs both again in the lab's order; another day of its own would only hold RHDP
 * longer without an answer.
 */
async function settleFailures(
  config: RouterConfig,
  failed: readonly SQSRecord[],
  failures: ReadonlyMap<string, Failure>,
): Promise<Set<string>> {
  /** Per lab: 'parked', or the delay its failed event waits. */
  const ahead = new Map<string, 'parked' | number>();
  const parked = new Set<string>();
  for (const record of failed) {
    const group = record.attributes.MessageGroupId ?? '';
    const failure = failures.get(record.messageId);
    if (failure === undefined) {
      const before = ahead.get(group) ?? retryDelaySeconds(receivesOf(record));
      const delay = before === 'parked' ? 0 : before;
      await retryIn(config, record, delay);
      log.info(
        before === 'parked'
          ? 'lab event runs next: its lab’s earlier event was parked'
          : 'lab event waits for its lab’s earlier event',
        { ...logFields(record), retry_in_seconds: delay },
      );
      continue;
    }
    if (receivesOf(record) >= config.maxReceives && (await park(config, record, failure))) {
      parked.add(record.messageId);
      ahead.set(group, 'parked');
      continue;
    }
    const delay = retryDelaySeconds(receivesOf(record));
    ahead.set(group, delay);
    await retryIn(config, record, delay);
    log.warn('lab event failed', { ...logFields(record), retry_in_seconds: delay, why: failure.message });
  }
  return parked;
}

/**
 * A batch from the FIFO queue: each lab's events in order, one at a time; a failure holds back the
 * lab's later events in the batch (Powertools' FIFO processor, skipping the group), while other
 * labs go on. Failures are reported back (ReportBatchItemFailures), never thrown; a parked record
 * is reported processed, so it leaves the queue.
 */
export async function routeLabEvents(
  config: RouterConfig,
  event: SQSEvent,
  context: Context,
): Promise<SQSBatchResponse> {
  const failures = new Map<string, Failure>();
  const processor = new SqsFifoPartialProcessorAsync();
  const response = await processPartialResponse(
    event,
    async (record: SQSRecord) => {
      try {
        await applyRecord(config, record);
      } catch (error) {
        failures.set(
          record.messageId,
          error instanceof LabEventRunFailed
            ? { type: error.errorType, message: error.message }
            : {
                type: errorTypeOf((error as Error)?.name),
                message: String((error as Error)?.message ?? error),
              },
        );
        throw error;
      }
    },
    processor,
    { context, skipGroupOnError: true, throwOnFullBatchFailure: false },
  );
  const parked = await settleFailures(config, processor.failureMessages as SQSRecord[], failures);
  return {
    batchItemFailures: response.batchItemFailures.filter((item) => !parked.has(item.itemIdentifier)),
  };
}
