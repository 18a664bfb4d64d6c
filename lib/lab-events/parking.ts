import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { Problem } from '../errors.ts';
import type { RouterConfig } from './config.ts';
import { labEventNames } from './failed-event.ts';
import { messageGroupOf } from './message-group.ts';
import { retrySpanSeconds } from './retry-schedule.ts';
import { sqs } from './sqs-client.ts';

/**
 * The record, as it was queued, into the parked queue in its lab's group; deduplicated by its
 * message id, so parking it twice (a batch run again) leaves one copy. Throws when SQS does not
 * take it: the record then stays in the lab-event queue.
 */
export async function parkRecord(config: RouterConfig, record: SQSRecord, event: unknown): Promise<void> {
  await sqs().send(
    new SendMessageCommand({
      QueueUrl: config.parkedQueueUrl,
      MessageBody: record.body,
      MessageGroupId: record.attributes.MessageGroupId ?? messageGroupOf(event),
      MessageDeduplicationId: record.messageId,
    }),
  );
}

/**
 * What RHDP is told of a parked lab event (`Virtual Key Failed`, reason `parked`): how long it was
 * retried and how often it was handed out, and the last failure by its type alone (a function's
 * error text stays in the router's log).
 */
export function parkedProblem(
  config: RouterConfig,
  event: unknown,
  receives: number,
  lastFailure: string,
): Problem {
  const names = labEventNames(event);
  const span = (retrySpanSeconds(config.maxReceives) / 3600).toFixed(1);
  return new Problem(
    503,
    'lab-event-parked',
    'Lab event parked',
    `the ${names.detailType} event ${names.id} of lab ${names.guid} was not applied within its retry span of about ${span} h: it was received ${receives} times, and its last run failed with ${lastFailure}; it is kept in the parked lab events queue for 14 days, until an operator redrives it`,
  );
}
