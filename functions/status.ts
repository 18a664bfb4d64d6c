import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { httpLifecycle } from '../lib/lab/lifecycle.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { configAtStart } from '../lib/startup.ts';
import { status } from '../lib/status/operation.ts';

const config = configAtStart('status', getConfig);

/** `GET /keys/{guid}`: what LiteLLM holds for a lab; `GET /keys`: the labs of the ledger. */
export const handler = httpRoute(config, 'status', async (event, context) => {
  const request = {
    guid: event.pathParameters?.guid,
    query: event.queryStringParameters ?? {},
    lifecycle: httpLifecycle(event),
  };
  return jsonResponse(200, await status(request, depsOf(context)));
});
