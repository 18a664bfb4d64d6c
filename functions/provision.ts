import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { eventLifecycle, httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpOrLabEvent } from '../lib/middleware/http-or-lab-event.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { labEventRoute } from '../lib/middleware/lab-event.ts';
import { provision } from '../lib/provision/operation.ts';
import { provisionResponse } from '../lib/provision/response.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('provision', getConfig);

const http = httpRoute(
  config,
  'provision',
  async (event, context) => {
    const lab = await provision({ input: event.body, lifecycle: httpLifecycle(event) }, depsOf(context));
    return jsonResponse(lab.created ? 201 : 200, provisionResponse(lab));
  },
  { jsonBody: true },
);

const labEvent = labEventRoute(config, 'provision', async (event, context) => {
  const lab = await provision({ input: event.detail, lifecycle: eventLifecycle(event) }, depsOf(context));
  return {
    outcome: lab.created ? 'created' : 'existing',
    guid: lab.guid,
    aliases: lab.keys.map((k) => k.spec.alias),
  };
});

/** `POST /keys` and the EventBridge `Lab Provisioned` event. */
export const handler = httpOrLabEvent(http, labEvent);
