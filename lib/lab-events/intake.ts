import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { log } from '../log.ts';
import type { IntakeConfig } from './config.ts';
import { labEventNames } from './failed-event.ts';
import { deduplicationIdOf, messageGroupOf } from './message-group.ts';
import { sqs } from './sqs-client.ts';

/**
 * A lab event from the rule, queued as it came in its lab's message group. A failure to queue is
 * thrown: Lambda retries the invocation, then leaves the event in the failure queue.
 */
export async function queueLabEvent(config: IntakeConfig, event: unknown): Promise<void> {
  const body = JSON.stringify(event);
  const group = messageGroupOf(event);
  const names = labEventNames(event);
  const fields = { detail_type: names.detailType, event_id: names.id, guid: names.guid, group };
  try {
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: config.queueUrl,
        MessageBody: body,
        MessageGroupId: group,
        MessageDeduplicationId: deduplicationIdOf(event, body),
      }),
    );
  } catch (error) {
    log.error('lab event not queued', { ...fields, err: error });
    throw error;
  }
  log.info('lab event queued', fields);
}
