import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logEntries, logLines, metricLines } from '../support/checks/logs.ts';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  labExtendedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { type RouteHandlers, useHarness } from '../support/harness.ts';

const { h, route, issued } = useHarness();
const GRANITE = 'granite-3-2-8b-instruct';

const call = (name: keyof RouteHandlers, event: unknown) => route[name](event, lambdaContext());
const http = async (name: keyof RouteHandlers, event: Parameters<typeof invokeHttp>[1]) => {
  const answer = await invokeHttp(route[name], event, lambdaContext());
  if (typeof answer.body.litellm_virtual_key === 'string') issued.add(answer.body.litellm_virtual_key);
  return answer;
};
const emf = (metric: string) =>
  metricLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((m) => metric in m);

describe('result events', () => {
  it('announces a provision from HTTP with the lab’s facts and no key, and a replay as not created', async () => {
    const created = await http('provision', postKeysEvent({ guid: 'res1', package: 'ai-beginner' }));
    const replay = await http('provision', postKeysEvent({ guid: 'res1', package: 'ai-beginner' }));

    assert.equal(created.status, 201);
    const expected = {
      guid: 'res1',
      litellm_key_aliases: ['virtkey-res1'],
      litellm_available_models: [GRANITE],
      litellm_key_expires: created.body.litellm_key_expires,
      trigger: 'http',
      api_request_id: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      litellm_target: 'default',
      subscription_package: 'ai-beginner',
      litellm_key_duration: '7d',
      litellm_key_ids: [created.body.litellm_key_id],
    };
    const events = h.bus.of('Virtual Key Provisioned');
    assert.deepEqual(
      events.map((e) => [e.source, e.busName, e.detail]),
      [
        ['litellm.virtual-keys', 'default', { ...expected, created: true }],
        ['litellm.virtual-keys', 'default', { ...expected, created: false }],
      ],
    );
    assert.equal(replay.body.litellm_virtual_key, created.body.litellm_virtual_key);
    assert.ok(!events.some((e) => e.raw.includes(String(created.body.litellm_virtual_key))));
  });

  it('announces extend and destroy, from HTTP and from lab events', async () => {
    await call('provision', labProvisionedEvent({ guid: 'res2', package: 'ai-beginner' }));
    const status = await http('status', getKeysEvent('res2'));
    const keyId = (status.body.keys as { litellm_key_id: string }[])[0]?.litellm_key_id;
    const extended = await http('extend', extendKeysEvent('res2', { duration: '10d' }));
    await call('extend', labExtendedEvent({ guid: 'res2', duration: '12d' }));
    const destroyed = await http('destroy', deleteKeysEvent('res2'));

    assert.deepEqual(
      h.bus.entries.map((e) => [e.detailType, e.detail.trigger]),
      [
        ['Virtual Key Provisioned', 'event'],
        ['Virtual Key Extended', 'http'],
        ['Virtual Key Extended', 'event'],
        ['Virtual Key Destroyed', 'http'],
      ],
    );
    const [first] = h.bus.of('Virtual Key Extended');
    assert.deepEqual(first?.detail, {
      guid: 'res2',
      litellm_key_aliases: ['virtkey-res2'],
      litellm_available_models: [GRANITE],
      litellm_key_expires: extended.body.litellm_key_expires,
      trigger: 'http',
      api_request_id: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      litellm_target: 'default',
      litellm_key_duration: '10d',
      litellm_key_ids: [keyId],
    });
    const gone = h.bus.of('Virtual Key Destroyed')[0];
    assert.equal(destroyed.body.deleted_keys, 1);
    assert.deepEqual(
      [gone?.detail.deleted_keys, gone?.detail.was_missing, gone?.detail.litellm_key_ids, gone?.detail.guid],
      [1, false, [keyId], 'res2'],
    );
    assert.deepEqual(
      h.bus.entries.flatMap((e) => Object.keys(e.detail).filter((field) => field.startsWith('secret'))),
      [],
      'key values live in the ledger: no event names a stored secret',
    );
    assert.equal(
      gone?.detail.litellm_key_expires,
      h.bus.of('Virtual Key Extended')[1]?.detail.litellm_key_expires,
    );
  });

  it('answers a lab event that cannot succeed with Virtual Key Failed, and settles it', async () => {
    const bad = labProvisionedEvent({ guid: 'Bad_Guid', package: 'ai-beginner' });
    const unknown = labExtendedEvent({ guid: 'nolab1', duration: '7d' });

    assert.deepEqual(await call('provision', bad), {
      outcome: 'rejected',
      status: 400,
      detail:
        'provision request is invalid: guid must be 1-40 lowercase letters, digits or "-", not starting or ending with "-"',
    });
    assert.equal(((await call('extend', unknown)) as { status: number }).status, 404);

    const failed = h.bus.of('Virtual Key Failed');
    assert.deepEqual(
      failed.map((e) => [e.detail.guid, e.detail.lab_event, (e.detail.error as { status: number }).status]),
      [
        ['Bad_Guid', { detail_type: 'Lab Provisioned', id: bad.id }, 400],
        ['nolab1', { detail_type: 'Lab Extended', id: unknown.id }, 404],
      ],
    );
    assert.deepEqual((failed[0]?.detail.error as { errors?: unknown[] } | undefined)?.errors, [
      {
        field: 'guid',
        message: 'must be 1-40 lowercase letters, digits or "-", not starting or ending with "-"',
      },
    ]);
    assert.equal(h.litellm.calls.get('POST /key/generate') ?? 0, 0);
  });

  it('retries a lab event whose result event does not get on the bus; an HTTP caller still gets its key', async () => {
    h.bus.failNextCalls(2);
    await assert.rejects(
      call('provision', labProvisionedEvent({ guid: 'res3' })),
      /EventBridge did not take/,
    );
    await call('provision', labProvisionedEvent({ guid: 'res3' }));
    assert.deepEqual(
      h.bus.of('Virtual Key Provisioned').map((e) => [e.detail.guid, e.detail.created]),
      [['res3', false]],
      'the retry finds the key made the first time and announces it',
    );

    h.bus.failNextCalls(2);
    const from = logLines.length;
    const answer = await http('provision', postKeysEvent({ guid: 'res4' }));
    assert.equal(answer.status, 201);
    const line = logEntries()
      .slice(from)
      .find((entry) => entry.message === 'result event not delivered');
    assert.deepEqual(
      [line?.level, line?.guid, line?.detail_type],
      ['error', 'res4', 'Virtual Key Provisioned'],
    );
  });

  it('keeps a rejected lab event for the failure queue when its Virtual Key Failed cannot be sent', async () => {
    h.bus.failNextCalls(2);
    await assert.rejects(call('provision', labProvisionedEvent({ guid: '-bad-' })));
    assert.deepEqual(h.bus.of('Virtual Key Failed'), []);
  });

  it('counts keys created and deleted per package, and failures per operation, as EMF metrics', async () => {
    const from = metricLines.length;
    await http('provision', postKeysEvent({ guid: 'res5', package: 'lab-dev' }));
    await http('provision', postKeysEvent({ guid: 'res5', package: 'lab-dev' }));
    await http('destroy', deleteKeysEvent('res5'));
    h.litellm.faults.failNext('POST /key/generate', '503', 3);
    const down = await http('provision', postKeysEvent({ guid: 'res6', package: 'ai-researcher' }));
    assert.equal(down.status, 503);

    const lines = metricLines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
    const counted = lines.flatMap((m) => {
      const name = ['KeysCreated', 'KeysDeleted', 'Failures'].find((metric) => metric in m);
      return name ? [[name, m[name], m.operation, m.package]] : [];
    });
    assert.deepEqual(counted, [
      ['KeysCreated', 1, 'provision', 'lab-dev'],
      ['KeysDeleted', 1, 'destroy', 'lab-dev'],
      ['Failures', 1, 'provision', undefined],
    ]);
    const [created] = emf('KeysCreated').slice(-1);
    const directives = (
      created?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] } | undefined
    )?.CloudWatchMetrics[0];
    assert.equal(directives?.Namespace, 'LiteLLMVirtualKeys');
    assert.deepEqual(directives?.Dimensions[0]?.slice().sort(), ['operation', 'package', 'service']);
  });
});
