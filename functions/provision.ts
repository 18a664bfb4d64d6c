import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { eventLifecycle, httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpOrLabEvent } from '../lib/middleware/http-or-lab-event.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { labEventRoute } from '../lib/middleware/lab-event.ts';
import { MOVE_ROUTE, move } from '../lib/move/operation.ts';
import { provision } from '../lib/provision/operation.ts';
import { provisionResponse } from '../lib/provision/response.ts';
import { withPathGuid } from '../lib/schemas.ts';

const config = getConfig();

const provisionRoute = httpRoute(
  config,
  'provision',
  async (event, context) => {
    const lab = await provision({ input: event.body, lifecycle: httpLifecycle(event) }, depsOf(context));
    return jsonResponse(lab.created ? 201 : 200, provisionResponse(lab));
  },
  { jsonBody: true },
);

// A move makes keys as a provision does, with the same role; its old keys' deletion needs no more.
const moveRoute = httpRoute(
  config,
  'move',
  async (event, context) => {
    const input = withPathGuid(event.body, event.pathParameters?.guid);
    const lab = await move({ input, lifecycle: httpLifecycle(event) }, depsOf(context));
    return jsonResponse(200, { ...provisionResponse(lab), moved_from: lab.from });
  },
  { jsonBody: true },
);

const http = (event: APIGatewayProxyEventV2, context: Context) =>
  event.routeKey === MOVE_ROUTE ? moveRoute(event, context) : provisionRoute(event, context);

const labEvent = labEventRoute(config, 'provision', async (event, context) => {
  const lab = await provision({ input: event.detail, lifecycle: eventLifecycle(event) }, depsOf(context));
  return {
    outcome: lab.created ? 'created' : 'existing',
    guid: lab.guid,
    aliases: lab.keys.map((k) => k.spec.alias),
  };
});

/** `POST /keys`, `POST /keys/{guid}/move` and the EventBridge `Lab Provisioned` event. */
export const handler = httpOrLabEvent(http, labEvent);
