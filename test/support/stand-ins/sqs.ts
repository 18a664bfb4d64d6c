import { createHash, randomUUID } from 'node:crypto';
import { AwsError, type AwsJsonBody, AwsJsonStandIn } from './aws-json.ts';

/** The time the stand-in reads: a test moves it by hand to let a day of retries pass at once. */
export interface Clock {
  now(): number;
}

export class ManualClock implements Clock {
  constructor(private epochMs = Date.now()) {}
  now(): number {
    return this.epochMs;
  }
  advance(ms: number): void {
    this.epochMs += ms;
  }
}

export interface QueueOptions {
  readonly fifo?: boolean;
  /** Seconds a received message stays hidden unless the receive or ChangeMessageVisibility says otherwise. */
  readonly visibilityTimeout?: number;
  /** Where a message goes once it has been received maxReceiveCount times and is due again. */
  readonly redrive?: { readonly deadLetterQueue: string; readonly maxReceiveCount: number };
}

export interface StoredMessage {
  readonly id: string;
  readonly body: string;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  readonly sentAt: number;
  readonly sequenceNumber: string;
  receiveCount: number;
  firstReceivedAt?: number;
  /** Hidden until then (a received message, in flight). */
  visibleAt: number;
  receiptHandle?: string;
}

interface Queue {
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  readonly fifo: boolean;
  readonly visibilityTimeout: number;
  readonly redrive?: QueueOptions['redrive'];
  /** In the order they were sent: a FIFO queue hands each group's messages out in this order. */
  readonly messages: StoredMessage[];
  /** Deduplication ids seen, until when (SQS's five-minute window). */
  readonly deduplication: Map<string, { until: number; messageId: string }>;
}

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const DEDUPLICATION_WINDOW_MS = 5 * 60_000;
const MAX_VISIBILITY_TIMEOUT = 43_200;

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

/**
 * An SQS endpoint speaking the JSON protocol the AWS SDK v3 uses (AWS JSON 1.0, X-Amz-Target
 * AmazonSQS.*), reached through AWS_ENDPOINT_URL_SQS: SendMessage, ReceiveMessage, DeleteMessage,
 * ChangeMessageVisibility, GetQueueUrl, GetQueueAttributes and StartMessageMoveTask. FIFO queues
 * keep SQS's rules: a message group with a message in flight hands out nothing else, each group's
 * messages come in the order sent, a deduplication id is taken once for five minutes. Visibility
 * timeouts, ApproximateReceiveCount and the redrive to a dead-letter queue after maxReceiveCount
 * follow the injected clock, so a test can let a day pass between two calls.
 */
export class SqsStandIn extends AwsJsonStandIn {
  protected readonly targetPrefix = 'AmazonSQS';
  protected readonly internalError = 'InternalError';
  private readonly queues = new Map<string, Queue>();
  private sequence = 0;
  /** Calls that fail as SQS's internal error while set (an SQS outage). */
  unavailable = false;
  /** Calls that fail so on one queue only, each as `<operation> <queue name>` ("SendMessage x.fifo"). */
  readonly failing = new Set<string>();

  private constructor(readonly clock: Clock) {
    super();
  }

  static async start(clock: Clock = { now: () => Date.now() }): Promise<SqsStandIn> {
    const standIn = new SqsStandIn(clock);
    await standIn.listen();
    return standIn;
  }

  /** A queue as the stack declares it; returns its URL. A FIFO queue's name ends in `.fifo`. */
  createQueue(name: string, options: QueueOptions = {}): string {
    const fifo = options.fifo ?? name.endsWith('.fifo');
    const queue: Queue = {
      name,
      arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
      url: `${this.url}/${ACCOUNT}/${name}`,
      fifo,
      visibilityTimeout: options.visibilityTimeout ?? 30,
      ...(options.redrive ? { redrive: options.redrive } : {}),
      messages: [],
      deduplication: new Map(),
    };
    this.queues.set(name, queue);
    return queue.url;
  }

  arnOf(name: string): string {
    return this.queue(name).arn;
  }

  /** Every message a queue holds, visible or in flight, in order. */
  messages(name: string): readonly StoredMessage[] {
    return this.queue(name).messages;
  }

  /** The queues stay, emptied; counters and the outage end. */
  reset(): void {
    this.calls.clear();
    this.unavailable = false;
    this.failing.clear();
    for (const queue of this.queues.values()) {
      queue.messages.length = 0;
      queue.deduplication.clear();
    }
  }

  protected handle(operation: string, body: AwsJsonBody): AwsJsonBody {
    const queueName = String(body.QueueUrl ?? '')
      .split('/')
      .pop();
    if (this.unavailable || this.failing.has(`${operation} ${queueName}`))
      throw new AwsError('InternalError', 'We encountered an internal error.', 500);
    switch (operation) {
      case 'SendMessage':
        return this.send(this.byUrl(body.QueueUrl), body);
      case 'ReceiveMessage':
        return this.receive(this.byUrl(body.QueueUrl), body);
      case 'DeleteMessage':
        return this.delete(this.byUrl(body.QueueUrl), body);
      case 'ChangeMessageVisibility':
        return this.changeVisibility(this.byUrl(body.QueueUrl), body);
      case 'GetQueueUrl':
        return { QueueUrl: this.queue(String(body.QueueName)).url };
      case 'GetQueueAttributes':
        return this.attributes(this.byUrl(body.QueueUrl));
      case 'StartMessageMoveTask':
        return this.moveMessages(body);
      default:
        throw new AwsError('UnsupportedOperation', `unknown operation ${operation}`);
    }
  }

  private queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new AwsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  }

  private byUrl(url: unknown): Queue {
    return this.queue(String(url).split('/').pop() ?? '');
  }

  private byArn(arn: unknown): Queue {
    return this.queue(String(arn).split(':').pop() ?? '');
  }

  private send(queue: Queue, body: AwsJsonBody): AwsJsonBody {
    const text = String(body.MessageBody ?? '');
    if (text.length === 0) throw invalid('The request must contain the parameter MessageBody.');
    const now = this.clock.now();
    const groupId = body.MessageGroupId === undefined ? undefined : String(body.MessageGroupId);
    const deduplicationId =
      body.MessageDeduplicationId === undefined ? undefined : String(body.MessageDeduplicationId);
    if (queue.fifo) {
      if (!groupId)
        throw new AwsError('MissingParameter', 'The request must contain the parameter MessageGroupId.');
      if (!deduplicationId) {
        throw invalid(
          'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
        );
      }
      for (const id of [groupId, deduplicationId]) {
        if (!/^[\x21-\x7e]{1,128}$/.test(id)) throw invalid(`Value ${id} for parameter is invalid.`);
      }
      const seen = queue.deduplication.get(deduplicationId);
      if (seen && seen.until > now) {
        return {
          MessageId: seen.messageId,
          MD5OfMessageBody: md5(text),
          SequenceNumber: this.nextSequence(),
        };
      }
    }
    const message = this.enqueue(queue, text, now, groupId, deduplicationId);
    return {
      MessageId: message.id,
      MD5OfMessageBody: md5(text),
      ...(queue.fifo ? { SequenceNumber: message.sequenceNumber } : {}),
    };
  }

  private enqueue(queue: Queue, text: string, now: number, groupId?: string, deduplicationId?: string) {
    const message: StoredMessage = {
      id: randomUUID(),
      body: text,
      ...(groupId === undefined ? {} : { groupId }),
      ...(deduplicationId === undefined ? {} : { deduplicationId }),
      sentAt: now,
      sequenceNumber: this.nextSequence(),
      receiveCount: 0,
      visibleAt: now,
    };
    queue.messages.push(message);
    if (deduplicationId !== undefined) {
      queue.deduplication.set(deduplicationId, {
        until: now + DEDUPLICATION_WINDOW_MS,
        messageId: message.id,
      });
    }
    return message;
  }

  private nextSequence(): string {
    this.sequence++;
    return String(this.sequence).padStart(20, '0');
  }

  /**
   * Up to MaxNumberOfMessages due messages, in order. A group that had a message in flight when the
   * call came is passed over whole; a due message already received maxReceiveCount times goes to
   * the dead-letter queue instead of out.
   */
  private receive(queue: Queue, body: AwsJsonBody): AwsJsonBody {
    const max = Number(body.MaxNumberOfMessages ?? 1);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw invalid('Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.');
    }
    const now = this.clock.now();
    const visibility = Number(body.VisibilityTimeout ?? queue.visibilityTimeout);
    const blocked = new Set(
      queue.fifo ? queue.messages.filter((m) => m.visibleAt > now).map((m) => m.groupId) : [],
    );
    const out: AwsJsonBody[] = [];
    for (const message of [...queue.messages]) {
      if (out.length >= max) break;
      if (message.visibleAt > now || blocked.has(message.groupId)) continue;
      if (queue.redrive && message.receiveCount >= queue.redrive.maxReceiveCount) {
        this.deadLetter(queue, message, now);
        continue;
      }
      message.receiveCount++;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + visibility * 1000;
      message.receiptHandle = randomUUID();
      out.push({
        MessageId: message.id,
        ReceiptHandle: message.receiptHandle,
        MD5OfBody: md5(message.body),
        Body: message.body,
        Attributes: {
          SenderId: 'AROASTANDIN',
          SentTimestamp: String(message.sentAt),
          ApproximateReceiveCount: String(message.receiveCount),
          ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
          ...(queue.fifo
            ? {
                MessageGroupId: message.groupId,
                MessageDeduplicationId: message.deduplicationId,
                SequenceNumber: message.sequenceNumber,
              }
            : {}),
        },
      });
    }
    return out.length > 0 ? { Messages: out } : {};
  }

  /** SQS gives the dead letter a deduplication id of its original message id, so two never collide. */
  private deadLetter(queue: Queue, message: StoredMessage, now: number): void {
    queue.messages.splice(queue.messages.indexOf(message), 1);
    const target = this.byArn(queue.redrive?.deadLetterQueue);
    this.enqueue(target, message.body, now, message.groupId, target.fifo ? message.id : undefined);
  }

  private inFlight(queue: Queue, handle: unknown): StoredMessage {
    const message = queue.messages.find((m) => m.receiptHandle !== undefined && m.receiptHandle === handle);
    if (!message)
      throw new AwsError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${String(handle)}" is not a valid receipt handle.`,
      );
    return message;
  }

  private delete(queue: Queue, body: AwsJsonBody): AwsJsonBody {
    const message = this.inFlight(queue, body.ReceiptHandle);
    queue.messages.splice(queue.messages.indexOf(message), 1);
    return {};
  }

  private changeVisibility(queue: Queue, body: AwsJsonBody): AwsJsonBody {
    const message = this.inFlight(queue, body.ReceiptHandle);
    const seconds = Number(body.VisibilityTimeout);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_VISIBILITY_TIMEOUT) {
      throw invalid(`Value ${String(body.VisibilityTimeout)} for parameter VisibilityTimeout is invalid.`);
    }
    const now = this.clock.now();
    if (message.visibleAt <= now) {
      throw new AwsError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    message.visibleAt = now + seconds * 1000;
    return {};
  }

  private attributes(queue: Queue): AwsJsonBody {
    const now = this.clock.now();
    const visible = queue.messages.filter((m) => m.visibleAt <= now).length;
    return {
      Attributes: {
        QueueArn: queue.arn,
        ApproximateNumberOfMessages: String(visible),
        ApproximateNumberOfMessagesNotVisible: String(queue.messages.length - visible),
        VisibilityTimeout: String(queue.visibilityTimeout),
        FifoQueue: String(queue.fifo),
        ...(queue.redrive
          ? {
              RedrivePolicy: JSON.stringify({
                deadLetterTargetArn: queue.redrive.deadLetterQueue,
                maxReceiveCount: queue.redrive.maxReceiveCount,
              }),
            }
          : {}),
      },
    };
  }

  /**
   * The redrive: every message of a dead-letter queue, oldest first, sent anew to the destination
   * (new id, retention and receive count; the same group). Done at once rather than as a task
   * that runs on: the destination has them all when the call returns.
   */
  private moveMessages(body: AwsJsonBody): AwsJsonBody {
    const source = this.byArn(body.SourceArn);
    const isDeadLetterQueue = [...this.queues.values()].some(
      (q) => q.redrive?.deadLetterQueue === source.arn,
    );
    if (!isDeadLetterQueue) throw invalid('Source queue must be configured as a Dead Letter Queue.');
    const destination = this.byArn(body.DestinationArn);
    if (destination.fifo !== source.fifo)
      throw invalid('The source and destination queues must be of the same type.');
    const now = this.clock.now();
    for (const message of source.messages.splice(0)) {
      this.enqueue(
        destination,
        message.body,
        now,
        message.groupId,
        destination.fifo ? randomUUID() : undefined,
      );
    }
    return { TaskHandle: randomUUID() };
  }
}

function invalid(message: string): AwsError {
  return new AwsError('InvalidParameterValue', message);
}
