import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type OpenApiOperation,
  openApi,
  openApiValidator,
  schemaErrors,
} from '../support/checks/doc-schemas.ts';
import {
  asClient,
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  listKeysEvent,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { type HttpAnswer, invokeHttp } from '../support/fixtures/http.ts';
import { type Handler, type Harness, importRouteHandlers, startHarness } from '../support/harness.ts';

/** Real answers of every route, in each status the service gives, against docs/openapi.yaml. */
let h: Harness;
let handlers: Record<string, Handler>;
const checked: string[] = [];

before(async () => {
  h = await startHarness();
  handlers = await importRouteHandlers();
});
after(() => h.close());

const components = openApi.components as unknown as {
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content: Record<string, { schema: unknown }> }
  >;
};

/** Call a route's function and hold the answer to what the document says of that route and status. */
async function answer(
  fn: string,
  [path, method]: [string, string],
  event: Parameters<typeof invokeHttp>[1],
): Promise<HttpAnswer> {
  const got = await invokeHttp(handlers[fn] as never, event, lambdaContext());
  const operation = openApi.paths[path]?.[method] as OpenApiOperation;
  const documented = operation.responses[String(got.status)];
  assert.ok(documented, `${method.toUpperCase()} ${path} answered ${got.status}, which is not documented`);
  const response = documented.$ref
    ? components.responses[documented.$ref.replace('#/components/responses/', '')]
    : documented;
  const contentType = got.headers['content-type'] ?? '';
  const media = response?.content?.[contentType];
  assert.ok(media, `${got.status} is documented without ${contentType}`);
  assert.deepEqual(schemaErrors(openApiValidator(media.schema), got.body), [], JSON.stringify(got.body));
  for (const header of Object.keys(response?.headers ?? {})) {
    assert.ok(got.headers[header.toLowerCase()], `${got.status} carries ${header}`);
  }
  checked.push(`${method.toUpperCase()} ${path} ${got.status}`);
  return got;
}

const POST_KEYS: [string, string] = ['/keys', 'post'];
const LAB: [string, string] = ['/keys/{guid}', 'get'];
const LIST: [string, string] = ['/keys', 'get'];
const DELETE: [string, string] = ['/keys/{guid}', 'delete'];
const EXTEND: [string, string] = ['/keys/{guid}/extend', 'post'];

describe('answers against docs/openapi.yaml', () => {
  it('every route, in each status the service gives, answers as documented', async () => {
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc1', package: 'ai-beginner' }));
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc1', package: 'ai-beginner' }));
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc2', users: ['ann', 'bob'] }));
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc1', pakage: 'x' }));
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc1', package: 'lab-prod' }));
    await h.litellm.seedKey({ alias: 'virtkey-doc3', expires: null, metadata: { team: 'ml' } });
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc3' }));
    const taken = await answer(
      'provision',
      POST_KEYS,
      asClient(postKeysEvent({ guid: 'doc1', package: 'ai-beginner' }), 'portal', ['provision']),
    );
    assert.equal(taken.body.type, 'urn:litellm-virtual-keys:problem:guid-taken');
    h.litellm.faults.failNext('POST /key/generate', '503', 3);
    await answer('provision', POST_KEYS, postKeysEvent({ guid: 'doc4' }));

    await answer('status', LAB, getKeysEvent('doc1'));
    await answer('status', LAB, getKeysEvent('doc2'));
    await answer('status', LAB, getKeysEvent('nolab'));
    await answer('status', LAB, getKeysEvent('Bad_Guid'));
    await answer('status', LIST, listKeysEvent({ state: 'active', limit: '1' }));
    await answer('status', LIST, listKeysEvent({ cursor: 'forged' }));

    await answer('extend', EXTEND, extendKeysEvent('doc1', { duration: '10d' }));
    await answer('extend', EXTEND, extendKeysEvent('doc2', { duration: '10d' }));
    await answer(
      'extend',
      EXTEND,
      extendKeysEvent('doc1', { duration: '10d', expires: '2030-01-01T00:00:00Z' }),
    );
    await answer('extend', EXTEND, extendKeysEvent('nolab', { duration: '10d' }));
    // A lab whose key LiteLLM no longer holds: the extend finds it gone, and the lab is expired.
    const vanishing = await invokeHttp(
      handlers.provision as never,
      postKeysEvent({ guid: 'doc6' }),
      lambdaContext(),
    );
    await h.litellm.table.deleteWithAudit([String(vanishing.body.litellm_key_id)], 'operator', 'x');
    await answer('extend', EXTEND, extendKeysEvent('doc6', { duration: '10d' }));
    const expired = await answer('status', LIST, listKeysEvent({ state: 'expired' }));
    assert.deepEqual(
      (expired.body.labs as { guid: string; state: string }[]).map((lab) => [lab.guid, lab.state]),
      [['doc6', 'expired']],
    );

    await answer('destroy', DELETE, deleteKeysEvent('doc1', { force_db_delete: 'true' }));
    await answer('destroy', DELETE, deleteKeysEvent('doc1'));
    await answer('destroy', DELETE, deleteKeysEvent('doc2'));
    const { status } = await invokeHttp(
      handlers.provision as never,
      postKeysEvent({ guid: 'doc5' }),
      lambdaContext(),
    );
    assert.equal(status, 201);
    h.litellm.faults.set({ stickyDelete: true });
    await answer('destroy', DELETE, deleteKeysEvent('doc5'));
    h.litellm.faults.clear();

    assert.deepEqual(checked, [
      'POST /keys 201',
      'POST /keys 200',
      'POST /keys 201',
      'POST /keys 400',
      'POST /keys 409',
      'POST /keys 409',
      'POST /keys 409',
      'POST /keys 503',
      'GET /keys/{guid} 200',
      'GET /keys/{guid} 200',
      'GET /keys/{guid} 404',
      'GET /keys/{guid} 400',
      'GET /keys 200',
      'GET /keys 400',
      'POST /keys/{guid}/extend 200',
      'POST /keys/{guid}/extend 200',
      'POST /keys/{guid}/extend 400',
      'POST /keys/{guid}/extend 404',
      'POST /keys/{guid}/extend 404',
      'GET /keys 200',
      'DELETE /keys/{guid} 400',
      'DELETE /keys/{guid} 200',
      'DELETE /keys/{guid} 200',
      'DELETE /keys/{guid} 502',
    ]);
  });

  it('a provision at the client’s live-labs cap, and GET /health well and failing, answer as documented', async () => {
    const from = checked.length;
    const capped = (guid: string) =>
      asClient(postKeysEvent({ guid }), 'capped', ['provision'], { max_live_labs: 1 });
    await answer('provision', POST_KEYS, capped('cap1'));
    const refused = await answer('provision', POST_KEYS, capped('cap2'));
    assert.equal(refused.body.type, 'urn:litellm-virtual-keys:problem:client-live-labs-cap');

    handlers.health = ((await import('../../functions/health.ts')) as { handler: Handler }).handler;
    const health = listKeysEvent();
    Object.assign(health, { routeKey: 'GET /health', rawPath: '/health' });
    await answer('health', ['/health', 'get'], health);
    h.litellm.settings.databaseDown = true;
    await answer('health', ['/health', 'get'], health);
    h.litellm.settings.databaseDown = false;
    assert.deepEqual(checked.slice(from), [
      'POST /keys 201',
      'POST /keys 429',
      'GET /health 200',
      'GET /health 503',
    ]);
  });
});
