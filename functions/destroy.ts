import { getConfig } from '../lib/config.ts';
import { destroy } from '../lib/destroy/operation.ts';
import { destroyResponse } from '../lib/destroy/response.ts';
import { jsonResponse } from '../lib/http.ts';
import { eventLifecycle, httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpOrLabEvent } from '../lib/middleware/http-or-lab-event.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { labEventRoute } from '../lib/middleware/lab-event.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('destroy', getConfig);

const http = httpRoute(config, 'destroy', async (event, context) => {
  const input = { ...event.queryStringParameters, guid: event.pathParameters?.guid };
  const lab = await destroy({ input, lifecycle: httpLifecycle(event) }, depsOf(context));
  return jsonResponse(200, destroyResponse(lab));
});

const labEvent = labEventRoute(config, 'destroy', async (event, context) => {
  const lab = await destroy({ input: event.detail, lifecycle: eventLifecycle(event) }, depsOf(context));
  return {
    outcome: lab.wasMissing ? 'already-gone' : 'destroyed',
    guid: lab.guid,
    deleted_keys: lab.deletedKeys,
  };
});

/** `DELETE /keys/{guid}` and the EventBridge `Lab Destroyed` event. */
export const handler = httpOrLabEvent(http, labEvent);
