import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SendMessageCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent } from 'aws-lambda';
import { logEntries, metricLines } from '../support/checks/logs.ts';
import {
  asClient,
  labDestroyedEvent,
  labExtendedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { SqsEventSource, type SqsHandler } from '../support/fixtures/sqs-event-source.ts';
import {
  closeAndCheck,
  type Handler,
  type Harness,
  importRouteHandlers,
  startHarness,
} from '../support/harness.ts';
import { LambdaStandIn } from '../support/stand-ins/lambda.ts';
import { ManualClock, SqsStandIn } from '../support/stand-ins/sqs.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const QUEUE = 'litellm-virtual-keys-test-lab-events.fifo';
const PARKED = 'litellm-virtual-keys-test-lab-events-parked.fifo';
const SERVICE = readFileSync('serverless.yml', 'utf8');
/** The receive count at which the router parks a failing event (serverless.yml custom.labEventMaxReceives). */
const MAX_RECEIVES = Number(/^ {2}labEventMaxReceives: (\d+)$/m.exec(SERVICE)?.[1]);
/** The queue's own redrive, a backstop (custom.labEventBackstopReceives). */
const BACKSTOP_RECEIVES = Number(/^ {2}labEventBackstopReceives: (\d+)$/m.exec(SERVICE)?.[1]);

const clock = new ManualClock();
let sqs: SqsStandIn;
let lambda: LambdaStandIn;
let h: Harness;
let intake: Handler;
let source: SqsEventSource;
let queueUrl: string;
/** Every event a function was handed, by its name. */
const handed: { fn: string; event: Record<string, unknown> }[] = [];

/** Lab events as RHDP sends them: each with its own id, in the order of their `time`. */
const firstTime = Date.now() - HOUR;
let sent = 0;
function labEvent(make: (detail: unknown) => EventBridgeEvent<string, unknown>, detail: unknown) {
  sent++;
  return { ...make(detail), id: randomUUID(), time: new Date(firstTime + sent * 1000).toISOString() };
}

/** What the bus heard about a lab, in order: detail-types, with a failure's reason. */
const heardOf = (guid: string) =>
  h.bus.entries
    .filter((entry) => entry.detail.guid === guid)
    .map((entry) => (entry.detail.reason ? `${entry.detailType}: ${entry.detail.reason}` : entry.detailType));

const queued = (name: string) =>
  sqs.messages(name).map((m) => JSON.parse(m.body) as { detail: { guid: string } });

/** docs/operating.md, "Parked lab events": aws sqs start-message-move-task --source-arn … --destination-arn … */
async function redrive(): Promise<void> {
  const client = new SQSClient({});
  try {
    await client.send(
      new StartMessageMoveTaskCommand({ SourceArn: sqs.arnOf(PARKED), DestinationArn: sqs.arnOf(QUEUE) }),
    );
  } finally {
    client.destroy();
  }
}

describe('lab events through the FIFO queue', () => {
  before(async () => {
    sqs = await SqsStandIn.start(clock);
    lambda = await LambdaStandIn.start();
    const parkedUrl = sqs.createQueue(PARKED);
    queueUrl = sqs.createQueue(QUEUE, {
      visibilityTimeout: 1080,
      redrive: { deadLetterQueue: sqs.arnOf(PARKED), maxReceiveCount: BACKSTOP_RECEIVES },
    });
    h = await startHarness({
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      LAB_EVENT_QUEUE_URL: queueUrl,
      LAB_EVENT_PARKED_QUEUE_URL: parkedUrl,
      LAB_EVENT_MAX_RECEIVES: String(MAX_RECEIVES),
      PROVISION_FUNCTION_NAME: 'lvk-test-provision',
      DESTROY_FUNCTION_NAME: 'lvk-test-destroy',
      EXTEND_FUNCTION_NAME: 'lvk-test-extend',
      // Each attempt fails at once while LiteLLM is down: the queue, not the client, retries.
      LITELLM_RETRIES: '0',
    });
    const route = await importRouteHandlers();
    for (const fn of ['provision', 'destroy', 'extend'] as const) {
      lambda.deploy(`lvk-test-${fn}`, (event, context) => {
        handed.push({ fn, event: event as Record<string, unknown> });
        return route[fn](event, context);
      });
    }
    intake = ((await import('../../functions/lab-event-intake.ts')) as { handler: Handler }).handler;
    const router = ((await import('../../functions/lab-event-queue.ts')) as { handler: SqsHandler }).handler;
    source = new SqsEventSource(sqs, clock, QUEUE, router);
  });

  after(async () => {
    source.close();
    await Promise.all([sqs.close(), lambda.close()]);
    await closeAndCheck(h);
  });

  const start = clock.now();
  const guids = ['q-alpha', 'q-bravo', 'q-charlie', 'q-delta', 'q-never'];
  /** Destroyed in the end; q-delta keeps its key, q-never gets only a provision that cannot succeed. */
  const destroyed = ['q-alpha', 'q-bravo', 'q-charlie'];

  it('keeps every lab event through a day without LiteLLM, then applies each once, in each lab’s order', async () => {
    assert.ok(MAX_RECEIVES >= 20, 'the stack’s maxReceiveCount');
    h.litellm.settings.databaseDown = true;
    // q-never's key can never be made, outage or not.
    h.litellm.faults.failNext('POST /key/generate', '503', 100_000, 'virtkey-q-never');

    const events = [
      ...guids.map((guid) => labEvent(labProvisionedEvent, { guid, package: 'ai-beginner' })),
      ...guids
        .filter((guid) => guid !== 'q-never')
        .map((guid) => labEvent(labExtendedEvent, { guid, duration: '30d' })),
      ...destroyed.map((guid) => labEvent(labDestroyedEvent, { guid })),
    ];
    for (const event of events) await intake(event, lambdaContext());
    // EventBridge delivers at least once: the same event again is queued once.
    await intake(events[0], lambdaContext());
    assert.equal(sqs.messages(QUEUE).length, events.length);

    // 23 hours of LiteLLM down: every lab's first event fails again and again, its later events wait.
    await source.runUntil(start + 23 * HOUR);

    const heads = sqs.messages(QUEUE).filter((m) => m.receiveCount > 0);
    assert.deepEqual(
      heads.map((m) => [JSON.parse(m.body)['detail-type'], m.receiveCount]),
      guids.map(() => ['Lab Provisioned', 18]),
      'each lab’s provision tried 18 times in 23 hours (1 minute doubling to 2 hours between tries)',
    );
    assert.equal(sqs.messages(QUEUE).length, events.length, 'none lost, none handed out of order');
    assert.deepEqual(h.bus.entries, [], 'nothing applied, nothing given up');
    assert.equal(await h.litellm.table.firstTokenWithAlias('virtkey-q-alpha'), undefined);

    h.litellm.settings.databaseDown = false;
    await source.runUntil(start + 25 * HOUR);

    for (const guid of destroyed) {
      assert.deepEqual(
        heardOf(guid),
        ['Virtual Key Provisioned', 'Virtual Key Extended', 'Virtual Key Destroyed'],
        guid,
      );
      const { lab, keys } = await h.ledger.lab(guid);
      assert.equal(lab?.lab_state, 'destroyed', guid);
      assert.deepEqual(keys, [], guid);
      assert.equal(await h.litellm.table.firstTokenWithAlias(`virtkey-${guid}`), undefined, guid);
      assert.ok(
        (await h.litellm.table.deletedRows()).some((row) => row.key_alias === `virtkey-${guid}`),
        `${guid}'s key was made, then deleted`,
      );
    }
    assert.deepEqual(heardOf('q-delta'), ['Virtual Key Provisioned', 'Virtual Key Extended']);
    const delta = await h.ledger.lab('q-delta');
    assert.equal(delta.lab?.lab_state, 'active');
    const token = await h.litellm.table.firstTokenWithAlias('virtkey-q-delta');
    assert.ok(token, 'q-delta keeps its key');
    const expires = Date.parse(`${(await h.litellm.table.get(token))?.expires}Z`);
    assert.ok(Math.abs(expires - (Date.now() + 30 * DAY)) < 60_000, 'extended by 30 days once made');
    assert.deepEqual(
      delta.keys.map((key) => [key.key_id, key.status, Date.parse(String(key.expires_at))]),
      [[token, 'live', expires]],
    );
    // q-never still retries: its lab is the only one waiting, and it held up no other lab.
    assert.deepEqual(heardOf('q-never'), []);
    assert.deepEqual(
      queued(QUEUE).map((event) => event.detail.guid),
      ['q-never'],
    );
    assert.deepEqual(sqs.messages(PARKED), []);
  });

  it('parks the event that never succeeds after more than 24 hours of retries and announces it', async () => {
    const [never] = sqs.messages(QUEUE);
    assert.ok(never);
    await source.runUntil(start + 24 * HOUR + 30 * 60_000);
    assert.deepEqual(heardOf('q-never'), [], 'not given up within 24 hours');

    await source.runUntil(start + 27 * HOUR);

    assert.deepEqual(heardOf('q-never'), ['Virtual Key Failed: parked']);
    const [failed] = h.bus.of('Virtual Key Failed');
    const detail = failed?.detail as {
      lab_event: { detail_type: string; id: string };
      error: { status: number; type: string; detail: string };
      trigger: string;
    };
    assert.equal(detail.trigger, 'event');
    assert.deepEqual(detail.lab_event.detail_type, 'Lab Provisioned');
    assert.equal(detail.error.status, 503);
    assert.equal(detail.error.type, 'urn:litellm-virtual-keys:problem:lab-event-parked');
    // The last failure by its type alone: the function's error text stays in the router's log.
    assert.equal(
      detail.error.detail,
      `the Lab Provisioned event ${detail.lab_event.id} of lab q-never was not applied within its retry span of about 26.1 h: it was received ${MAX_RECEIVES} times, and its last run failed with LiteLlmUnavailableError; it is kept in the parked lab events queue for 14 days, until an operator redrives it`,
    );
    const parkedLine = logEntries().find((entry) => entry.message === 'lab event parked');
    assert.equal(parkedLine?.guid, 'q-never');
    assert.match(String(parkedLine?.why), /^provision failed: LiteLlmUnavailableError: ./);
    assert.equal(
      metricLines.filter((line) => JSON.parse(line).LabEventsParked === 1).length,
      1,
      'LabEventsParked counted once',
    );
    // The router parked it (SQS's redrive is a backstop far above): as queued, in its lab's group,
    // deduplicated by its message id.
    assert.deepEqual(sqs.messages(QUEUE), []);
    assert.deepEqual(
      sqs.messages(PARKED).map((m) => [m.body, m.groupId, m.deduplicationId]),
      [[never.body, 'q-never', never.id]],
    );
    assert.equal(never.receiveCount, MAX_RECEIVES);
    assert.equal(h.bus.of('Virtual Key Failed').length, 1, 'no other lab event failed');
  });

  it('runs a parked event again after the documented redrive', async () => {
    h.litellm.faults.clear();
    await redrive();
    assert.deepEqual(sqs.messages(PARKED), []);

    await source.runUntil(clock.now() + 60_000);

    assert.deepEqual(heardOf('q-never'), ['Virtual Key Failed: parked', 'Virtual Key Provisioned']);
    assert.ok(await h.litellm.table.firstTokenWithAlias('virtkey-q-never'));
    assert.deepEqual(sqs.messages(QUEUE), []);
  });

  it('holds a lab’s later events of the batch behind its failed one, then runs them in order', async () => {
    const events = [
      labEvent(labProvisionedEvent, { guid: 'q-echo', package: 'ai-beginner' }),
      labEvent(labExtendedEvent, { guid: 'q-echo', duration: '30d' }),
      labEvent(labDestroyedEvent, { guid: 'q-echo' }),
    ];
    for (const event of events) await intake(event, lambdaContext());
    h.litellm.faults.failNext('POST /key/update', '503', 1);

    await source.runUntil(clock.now());

    assert.deepEqual(heardOf('q-echo'), ['Virtual Key Provisioned']);
    const waiting = sqs.messages(QUEUE);
    assert.deepEqual(
      waiting.map((m) => [JSON.parse(m.body)['detail-type'], m.receiveCount, m.visibleAt - clock.now()]),
      [
        ['Lab Extended', 1, 60_000],
        ['Lab Destroyed', 1, 60_000],
      ],
      'the failed extend and the destroy behind it wait the same minute',
    );

    await source.runUntil(clock.now() + 60_000);

    assert.deepEqual(heardOf('q-echo'), [
      'Virtual Key Provisioned',
      'Virtual Key Extended',
      'Virtual Key Destroyed',
    ]);
    assert.deepEqual(sqs.messages(QUEUE), []);
  });

  it('refuses a queued event no function applies, and says why', async () => {
    await intake(
      { ...labEvent(labProvisionedEvent, { guid: 'q-foxtrot' }), 'detail-type': 'Lab Renamed' },
      lambdaContext(),
    );
    const invocations = [...lambda.invocations.values()].reduce((a, b) => a + b, 0);

    await source.runUntil(clock.now());

    assert.deepEqual(heardOf('q-foxtrot'), ['Virtual Key Failed: invalid-request']);
    const failed = h.bus.of('Virtual Key Failed').at(-1)?.detail as { error: { detail: string } };
    assert.match(failed.error.detail, /must be Lab Provisioned, Lab Destroyed, Lab Extended/);
    assert.equal(
      [...lambda.invocations.values()].reduce((a, b) => a + b, 0),
      invocations,
    );
    assert.deepEqual(sqs.messages(QUEUE), []);
  });

  it('parks a lab’s provision that never applies after its span, then runs the destroy held behind it, holding up no other lab', async () => {
    const t0 = clock.now();
    h.litellm.faults.failNext('POST /key/generate', '503', 100_000, 'virtkey-q-golf');
    for (const event of [
      labEvent(labProvisionedEvent, { guid: 'q-golf', package: 'ai-beginner' }),
      labEvent(labDestroyedEvent, { guid: 'q-golf' }),
      labEvent(labProvisionedEvent, { guid: 'q-hotel', package: 'ai-beginner' }),
    ])
      await intake(event, lambdaContext());
    const destroys = lambda.invocationCount('lvk-test-destroy');

    await source.runUntil(t0 + 10 * HOUR);
    assert.deepEqual(heardOf('q-hotel'), ['Virtual Key Provisioned'], 'the other lab went on at once');
    await intake(labEvent(labExtendedEvent, { guid: 'q-hotel', duration: '30d' }), lambdaContext());
    await source.runUntil(clock.now());
    assert.deepEqual(heardOf('q-hotel'), ['Virtual Key Provisioned', 'Virtual Key Extended']);

    await source.runUntil(t0 + 25 * HOUR);
    assert.deepEqual(heardOf('q-golf'), []);
    const [provision, destroy] = sqs.messages(QUEUE);
    assert.ok(provision && destroy && provision.receiveCount >= MAX_RECEIVES - 2);
    assert.equal(
      destroy.receiveCount,
      provision.receiveCount,
      'the destroy was handed out with its lab’s provision each time',
    );
    assert.equal(lambda.invocationCount('lvk-test-destroy'), destroys, 'and held back, never run');

    await source.runUntil(t0 + 27 * HOUR);

    assert.deepEqual(heardOf('q-golf'), ['Virtual Key Failed: parked', 'Virtual Key Destroyed']);
    assert.equal(lambda.invocationCount('lvk-test-destroy'), destroys + 1, 'the destroy ran, once');
    assert.deepEqual(
      sqs.messages(PARKED).map((m) => [JSON.parse(m.body)['detail-type'], m.groupId]),
      [['Lab Provisioned', 'q-golf']],
      'only the provision is parked',
    );
    assert.deepEqual(sqs.messages(QUEUE), []);
    assert.deepEqual(heardOf('q-hotel'), ['Virtual Key Provisioned', 'Virtual Key Extended']);
    h.litellm.faults.clear();
  });

  it('parks a later event held back for a whole span at its first own failure; a redrive runs its lab’s parked events in order', async () => {
    const t0 = clock.now();
    await intake(labEvent(labProvisionedEvent, { guid: 'q-india', package: 'ai-beginner' }), lambdaContext());
    await source.runUntil(t0);
    assert.deepEqual(heardOf('q-india'), ['Virtual Key Provisioned']);
    // Its extend (the only one for 29 days) fails until it is parked; the destroy behind it, the
    // only destroy meanwhile, then fails once.
    h.litellm.faults.failNext('POST /key/update', '503', 100_000, '"duration":"29d"');
    h.litellm.faults.failNext('POST /key/delete', '503', 1);
    await intake(labEvent(labExtendedEvent, { guid: 'q-india', duration: '29d' }), lambdaContext());
    await intake(labEvent(labDestroyedEvent, { guid: 'q-india' }), lambdaContext());
    const destroys = lambda.invocationCount('lvk-test-destroy');

    await source.runUntil(t0 + 27 * HOUR);

    assert.deepEqual(heardOf('q-india'), [
      'Virtual Key Provisioned',
      'Virtual Key Failed: parked',
      'Virtual Key Failed: parked',
    ]);
    assert.equal(lambda.invocationCount('lvk-test-destroy'), destroys + 1, 'the destroy ran once');
    const [extended, destroyed] = h.bus.of('Virtual Key Failed').slice(-2) as unknown as {
      detail: { lab_event: { detail_type: string }; error: { detail: string } };
    }[];
    assert.equal(extended?.detail.lab_event.detail_type, 'Lab Extended');
    assert.match(String(extended?.detail.error.detail), new RegExp(`received ${MAX_RECEIVES} times`));
    assert.equal(destroyed?.detail.lab_event.detail_type, 'Lab Destroyed');
    assert.match(
      String(destroyed?.detail.error.detail),
      new RegExp(`received ${MAX_RECEIVES + 1} times, and its last run failed with LiteLlmUnavailableError;`),
    );
    assert.deepEqual(
      sqs
        .messages(PARKED)
        .filter((m) => m.groupId === 'q-india')
        .map((m) => JSON.parse(m.body)['detail-type']),
      ['Lab Extended', 'Lab Destroyed'],
    );

    h.litellm.faults.clear();
    await redrive();
    await source.runUntil(clock.now() + 60_000);

    // In the lab's order: the extend, refused as the destroy's first run had begun deleting the
    // lab's keys, then the destroy.
    assert.deepEqual(heardOf('q-india').slice(3), [
      'Virtual Key Failed: keys-being-deleted',
      'Virtual Key Destroyed',
    ]);
    assert.equal(await h.litellm.table.firstTokenWithAlias('virtkey-q-india'), undefined);
    assert.deepEqual(sqs.messages(QUEUE), []);
  });

  it('keeps an event the parked queue does not take, and parks it at its next failure', async () => {
    const t0 = clock.now();
    const parkings = () => metricLines.filter((line) => JSON.parse(line).LabEventsParked === 1).length;
    const parked = parkings();
    h.litellm.faults.failNext('POST /key/generate', '503', 100_000, 'virtkey-q-mike');
    sqs.failing.add(`SendMessage ${PARKED}`);
    await intake(labEvent(labProvisionedEvent, { guid: 'q-mike', package: 'ai-beginner' }), lambdaContext());

    await source.runUntil(t0 + 27 * HOUR);

    assert.deepEqual(heardOf('q-mike'), [], 'neither parked nor announced');
    const [kept] = sqs.messages(QUEUE);
    assert.equal(kept?.receiveCount, MAX_RECEIVES);
    assert.equal(kept.visibleAt - clock.now() > HOUR, true, 'retried on its schedule, two hours on');
    assert.equal(parkings(), parked);
    assert.ok(logEntries().some((entry) => entry.message === 'lab event not parked: kept in the queue'));

    sqs.failing.clear();
    await source.runUntil(t0 + 30 * HOUR);

    assert.deepEqual(heardOf('q-mike'), ['Virtual Key Failed: parked']);
    const failed = h.bus.of('Virtual Key Failed').at(-1)?.detail as { error: { detail: string } };
    assert.match(failed.error.detail, new RegExp(`received ${MAX_RECEIVES + 1} times`));
    assert.equal(parkings(), parked + 1);
    assert.deepEqual(sqs.messages(QUEUE), []);
    // The parked queue was emptied by the redrive above.
    assert.deepEqual(
      sqs.messages(PARKED).map((m) => m.groupId),
      ['q-mike'],
    );
    h.litellm.faults.clear();
  });

  it('runs a queued message only as the lab event it carries: never as an HTTP request or its client', async () => {
    const client = new SQSClient({});
    const send = (body: unknown, group: string) =>
      client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(body),
          MessageGroupId: group,
          MessageDeduplicationId: randomUUID(),
        }),
      );
    const before = handed.length;
    // Put on the queue by an account principal: a lab event carrying an API request of client
    // `intruder` besides, and an API request alone, named as a lab event.
    const request = (guid: string) =>
      asClient(postKeysEvent({ guid, package: 'ai-beginner' }), 'intruder', ['provision', 'read-key']);
    try {
      await send(
        {
          ...request('q-kilo'),
          ...labEvent(labProvisionedEvent, { guid: 'q-kilo', package: 'ai-beginner' }),
        },
        'q-kilo',
      );
      await send({ ...request('q-lima'), 'detail-type': 'Lab Provisioned' }, 'q-lima');
    } finally {
      client.destroy();
    }

    await source.runUntil(clock.now());

    assert.deepEqual(
      handed.slice(before).map(({ fn, event }) => [fn, Object.keys(event).sort()]),
      [
        [
          'provision',
          ['account', 'detail', 'detail-type', 'id', 'region', 'resources', 'source', 'time', 'version'],
        ],
      ],
      'the lab event’s fields alone',
    );
    assert.deepEqual(heardOf('q-kilo'), ['Virtual Key Provisioned']);
    assert.equal((await h.ledger.lab('q-kilo')).lab?.client, 'event:rhdp.lab', 'a lab of the lab events');
    assert.equal((await h.ledger.lab('q-lima')).lab, undefined, 'nothing made for the request alone');
    const refusal = h.bus.of('Virtual Key Failed').at(-1)?.detail as {
      lab_event: { detail_type: string };
      reason: string;
      error: { detail: string };
    };
    assert.equal(refusal.reason, 'invalid-request');
    assert.equal(refusal.lab_event.detail_type, 'Lab Provisioned');
    assert.match(refusal.error.detail, /from source rhdp\.lab, as EventBridge sends it$/);
    assert.deepEqual(sqs.messages(QUEUE), []);
  });
});
