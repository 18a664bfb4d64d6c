/**
 * A call followed from API Gateway (or the lab event) to every log line of its run and to the
 * result event it causes.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logEntries, logLines } from '../support/checks/logs.ts';
import { labProvisionedEvent, lambdaContext, postKeysEvent } from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { useHarness } from '../support/harness.ts';

const { h, route, issued } = useHarness();

const provisioned = (guid: string) =>
  h.bus.history.find((entry) => entry.detailType === 'Virtual Key Provisioned' && entry.detail.guid === guid);

describe('request ids', () => {
  it('puts API Gateway’s request id in every log line of an HTTP call and in its result event', async () => {
    const event = postKeysEvent({ guid: 'ids1' });
    event.requestContext.requestId = 'api-request-ids1';
    const from = logLines.length;
    const answer = await invokeHttp(route.provision as never, event, lambdaContext());
    assert.equal(answer.status, 201);
    issued.add(String(answer.body.litellm_virtual_key));
    const lines = logEntries().slice(from);
    assert.ok(lines.some((line) => line.message === 'provisioned'));
    assert.deepEqual(
      lines.filter((line) => line.api_request_id !== 'api-request-ids1'),
      [],
      'a log line without the request id',
    );
    assert.ok(lines.every((line) => line.event_id === undefined));
    const announced = provisioned('ids1');
    assert.equal(announced?.detail.api_request_id, 'api-request-ids1');
    assert.equal(announced?.detail.lab_event_id, undefined);
  });

  it('puts a lab event’s id in every log line of its run, a refused one included, and in its result event', async () => {
    const event = labProvisionedEvent({ guid: 'ids2', package: 'ai-beginner' });
    const from = logLines.length;
    await route.provision(event, lambdaContext());
    const refused = labProvisionedEvent({ guid: 'ids2', package: 'no-such-package' });
    refused.id = 'lab-event-refused';
    await route.provision(refused, lambdaContext());
    const lines = logEntries().slice(from);
    assert.ok(lines.length >= 2);
    assert.deepEqual(
      lines.filter((line) => line.event_id !== event.id && line.event_id !== 'lab-event-refused'),
      [],
      'a log line without the event id',
    );
    assert.ok(lines.some((line) => line.event_id === 'lab-event-refused' && line.level !== 'error'));
    assert.ok(lines.every((line) => line.api_request_id === undefined));
    const announced = provisioned('ids2');
    assert.equal(announced?.detail.lab_event_id, event.id);
    assert.equal(announced?.detail.api_request_id, undefined);
  });
});
