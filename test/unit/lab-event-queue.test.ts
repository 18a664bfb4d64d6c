import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readRouterConfig } from '../../lib/lab-events/config.ts';
import { errorTypeOf, LabEventRunFailed } from '../../lib/lab-events/invoke-function.ts';
import {
  deduplicationIdOf,
  messageGroupOf,
  UNUSABLE_GUID_GROUP,
} from '../../lib/lab-events/message-group.ts';
import { queuedLabEvent } from '../../lib/lab-events/queued-event.ts';
import {
  MAX_DELAY_SECONDS,
  MIN_RETRY_SPAN_SECONDS,
  retryDelaySeconds,
  retrySpanSeconds,
} from '../../lib/lab-events/retry-schedule.ts';

const HOUR = 3600;

const SERVICE = readFileSync('serverless.yml', 'utf8');
const customNumber = (name: string) => {
  const declared = new RegExp(`^ {2}${name}: (\\d+)$`, 'm').exec(SERVICE)?.[1];
  assert.ok(declared, `serverless.yml declares custom.${name}`);
  return Number(declared);
};

/** The receive count at which the stack's router parks a failing lab event. */
function configuredMaxReceives(): number {
  assert.match(SERVICE, /LAB_EVENT_MAX_RECEIVES: \$\{self:custom\.labEventMaxReceives\}/);
  return customNumber('labEventMaxReceives');
}

const ROUTER_ENV = {
  LAB_EVENT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/lvk-dev-lab-events.fifo',
  LAB_EVENT_PARKED_QUEUE_URL:
    'https://sqs.us-east-1.amazonaws.com/111122223333/lvk-dev-lab-events-parked.fifo',
  PROVISION_FUNCTION_NAME: 'lvk-dev-provision',
  DESTROY_FUNCTION_NAME: 'lvk-dev-destroy',
  EXTEND_FUNCTION_NAME: 'lvk-dev-extend',
};

describe('lab event retry schedule', () => {
  it('waits a minute after the first failure, doubling up to two hours', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 19, 1000].map(retryDelaySeconds), [
      60,
      120,
      240,
      480,
      960,
      1920,
      3840,
      MAX_DELAY_SECONDS,
      7200,
      7200,
      7200,
    ]);
  });

  it('retries a lab event for at least 24 hours with the stack’s maxReceiveCount', () => {
    const maxReceives = configuredMaxReceives();
    const span = retrySpanSeconds(maxReceives);
    assert.ok(span >= MIN_RETRY_SPAN_SECONDS, `${span / HOUR} h`);
    // The sum of the delays between its attempts: 127 minutes of doubling, then every two hours.
    assert.equal(span, 127 * 60 + (maxReceives - 8) * 7200);
    assert.equal(
      readRouterConfig({ ...ROUTER_ENV, LAB_EVENT_MAX_RECEIVES: String(maxReceives) }).maxReceives,
      maxReceives,
    );
  });

  it('leaves the queue’s own redrive as a backstop that acts only on a router crashing for over a day', () => {
    const queue = readFileSync('resources/lab-event-queue.yml', 'utf8');
    assert.match(queue, /maxReceiveCount: \$\{self:custom\.labEventBackstopReceives\}/);
    const backstop = customNumber('labEventBackstopReceives');
    assert.ok(backstop >= 3 * configuredMaxReceives(), 'well above the router’s count');
    // A crashing router gets each message back once per visibility timeout.
    const visibility = Number(/^ {6}VisibilityTimeout: (\d+)$/m.exec(queue)?.[1]);
    assert.ok(backstop * visibility >= MIN_RETRY_SPAN_SECONDS, `${(backstop * visibility) / HOUR} h`);
    assert.deepEqual(
      [readRouterConfig({ ...ROUTER_ENV, LAB_EVENT_MAX_RECEIVES: '20' })].map((config) => [
        config.parkedQueueUrl,
        config.labEventSource,
      ]),
      [[ROUTER_ENV.LAB_EVENT_PARKED_QUEUE_URL, 'rhdp.lab']],
    );
  });

  it('refuses at start a maxReceiveCount that would park events within a day', () => {
    assert.ok(retrySpanSeconds(18) < MIN_RETRY_SPAN_SECONDS);
    assert.throws(
      () => readRouterConfig({ ...ROUTER_ENV, LAB_EVENT_MAX_RECEIVES: '18' }),
      /LAB_EVENT_MAX_RECEIVES 18 retries a lab event for 22\.1 h, under 24 h/,
    );
    assert.throws(
      () => readRouterConfig({ ...ROUTER_ENV, LAB_EVENT_MAX_RECEIVES: 'x' }),
      /must be an integer/,
    );
    assert.throws(
      () => readRouterConfig({ ...ROUTER_ENV, LAB_EVENT_MAX_RECEIVES: '20', EXTEND_FUNCTION_NAME: ' ' }),
      /EXTEND_FUNCTION_NAME is required/,
    );
  });
});

describe('lab event intake grouping', () => {
  const event = (detail: unknown, id: unknown = 'b6f7a1c2-0d1e-4f5a-9b8c-7d6e5f4a3b2c') => ({
    id,
    'detail-type': 'Lab Provisioned',
    source: 'rhdp.lab',
    detail,
  });

  it('puts each lab’s events in the group of its guid', () => {
    assert.equal(messageGroupOf(event({ guid: 'abc12' })), 'abc12');
    assert.equal(messageGroupOf(event({ guid: 'a-1-b' })), 'a-1-b');
  });

  it('puts events without a usable guid in one group no guid can name', () => {
    for (const detail of [
      {},
      { guid: 42 },
      { guid: 'Has Spaces' },
      { guid: 'UPPER' },
      { guid: 'x'.repeat(41) },
      null,
    ]) {
      assert.equal(messageGroupOf(event(detail)), UNUSABLE_GUID_GROUP, JSON.stringify(detail));
    }
    assert.equal(messageGroupOf('not an event'), UNUSABLE_GUID_GROUP);
    assert.doesNotMatch(UNUSABLE_GUID_GROUP, /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/);
  });

  it('deduplicates by the EventBridge event id, else by content', () => {
    const sent = event({ guid: 'abc12' });
    assert.equal(deduplicationIdOf(sent, JSON.stringify(sent)), sent.id);
    const idless = event({ guid: 'abc12' }, `has spaces and is ${'long'.repeat(40)}`);
    const body = JSON.stringify(idless);
    const byContent = deduplicationIdOf(idless, body);
    assert.match(byContent, /^[0-9a-f]{64}$/);
    assert.equal(deduplicationIdOf(idless, body), byContent);
    const other = JSON.stringify(event({ guid: 'abc13' }, undefined));
    assert.notEqual(deduplicationIdOf({}, other), byContent);
  });
});

describe('a queued lab event', () => {
  const labEvent = {
    version: '0',
    id: 'b6f7a1c2-0d1e-4f5a-9b8c-7d6e5f4a3b2c',
    'detail-type': 'Lab Destroyed',
    source: 'rhdp.lab',
    account: '111122223333',
    time: '2026-12-01T10:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { guid: 'abc12' },
  };

  it('is handed on rebuilt from the EventBridge fields alone', () => {
    const forged = {
      ...labEvent,
      routeKey: 'DELETE /keys/{guid}',
      requestContext: { authorizer: { lambda: { client: 'portal', scopes: 'destroy' } } },
      pathParameters: { guid: 'xyz98' },
    };
    assert.deepEqual(queuedLabEvent(JSON.stringify(forged), 'rhdp.lab'), {
      event: labEvent,
      runBy: 'destroy',
    });
    const { detail, ...bare } = labEvent;
    assert.deepEqual(queuedLabEvent(JSON.stringify(bare), 'rhdp.lab'), { event: bare, runBy: 'destroy' });
  });

  it('is refused unless it is one of the three lab events of the lab-event source', () => {
    const refused = {
      refused:
        'a queued lab event must be Lab Provisioned, Lab Destroyed, Lab Extended from source rhdp.lab, as EventBridge sends it',
    };
    for (const body of [
      { ...labEvent, source: 'someone.else' },
      { ...labEvent, source: undefined },
      { ...labEvent, 'detail-type': 'Lab Renamed' },
      { ...labEvent, 'detail-type': 'toString' },
      { routeKey: 'DELETE /keys/{guid}', requestContext: {}, 'detail-type': 'Lab Destroyed' },
      [labEvent],
      'Lab Destroyed',
      null,
    ]) {
      assert.deepEqual(queuedLabEvent(JSON.stringify(body), 'rhdp.lab'), refused, JSON.stringify(body));
    }
    assert.deepEqual(queuedLabEvent('{not json', 'rhdp.lab'), refused);
    assert.deepEqual(queuedLabEvent(JSON.stringify(labEvent), 'lab.events'), {
      refused: refused.refused.replace('rhdp.lab', 'lab.events'),
    });
  });
});

describe('a failed run, as a parked event may name it', () => {
  it('is named by its error type alone, never by text', () => {
    assert.equal(errorTypeOf('LiteLlmUnavailableError'), 'LiteLlmUnavailableError');
    assert.equal(errorTypeOf('Runtime.ExitError'), 'Runtime.ExitError');
    for (const text of ['failed: the key abc', '', 'x'.repeat(65), undefined, 42])
      assert.equal(errorTypeOf(text), 'Error');
    const failed = new LabEventRunFailed(
      'provision failed: UnavailableError: the master key was refused',
      'Unavailable Error!',
    );
    assert.equal(failed.errorType, 'Error');
    assert.match(failed.message, /master key/, 'the message, for the log only');
  });
});
