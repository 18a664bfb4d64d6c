import { getConfig } from '../lib/config.ts';
import { formatExpiry } from '../lib/duration.ts';
import { extend } from '../lib/extend/operation.ts';
import { extendResponse } from '../lib/extend/response.ts';
import { jsonResponse } from '../lib/http.ts';
import { eventLifecycle, httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpOrLabEvent } from '../lib/middleware/http-or-lab-event.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { labEventRoute } from '../lib/middleware/lab-event.ts';
import { withPathGuid } from '../lib/schemas.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('extend', getConfig);

const http = httpRoute(
  config,
  'extend',
  async (event, context) => {
    const input = withPathGuid(event.body, event.pathParameters?.guid);
    const lab = await extend({ input, lifecycle: httpLifecycle(event) }, depsOf(context));
    return jsonResponse(200, extendResponse(lab));
  },
  { jsonBody: true },
);

const labEvent = labEventRoute(config, 'extend', async (event, context) => {
  const lab = await extend({ input: event.detail, lifecycle: eventLifecycle(event) }, depsOf(context));
  return { outcome: 'extended', guid: lab.guid, expires: formatExpiry(lab.keys[0]?.expires) };
});

/** `POST /keys/{guid}/extend` and the EventBridge `Lab Extended` event. */
export const handler = httpOrLabEvent(http, labEvent);
