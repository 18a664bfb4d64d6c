import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { move } from '../lib/move/operation.ts';
import { provisionResponse } from '../lib/provision/response.ts';
import { withPathGuid } from '../lib/schemas.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('move', getConfig);

/** `POST /keys/{guid}/move`: the provision answer for the lab's new target, and where it came from. */
export const handler = httpRoute(
  config,
  'move',
  async (event, context) => {
    const input = withPathGuid(event.body, event.pathParameters?.guid);
    const lab = await move({ input, lifecycle: httpLifecycle(event) }, depsOf(context));
    return jsonResponse(200, { ...provisionResponse(lab), moved_from: lab.from });
  },
  { jsonBody: true },
);
