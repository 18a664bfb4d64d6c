import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { requireScope } from '../lib/auth/access.ts';
import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { depsFor, httpChain, httpLifecycle, withServiceContext } from '../lib/middleware.ts';
import { guidSchema, parseInput } from '../lib/schemas.ts';
import { labList } from '../lib/status/lab-list.ts';
import { labStatus } from '../lib/status/lab-status.ts';

const config = getConfig();
const requestSchema = z.strictObject({ guid: guidSchema });

const http = httpChain(config, 'status', async (event, context) => {
  const { caller } = httpLifecycle(event);
  const deps = { ...depsFor(config, context), config, caller };
  const guid = event.pathParameters?.guid;
  if (guid === undefined) {
    requireScope(caller, 'list', 'to list labs');
    return jsonResponse(200, await labList(event.queryStringParameters ?? {}, deps));
  }
  if (!caller.scopes.has('read-key')) requireScope(caller, 'read', 'to read a lab’s status');
  const request = parseInput(requestSchema, { ...event.queryStringParameters, guid }, 'status request');
  return jsonResponse(200, await labStatus(request.guid, deps));
});

/** `GET /keys/{guid}`: what LiteLLM holds for a lab; `GET /keys`: the labs of the ledger. */
export const handler = (event: APIGatewayProxyEventV2, context: Context) =>
  withServiceContext(http)(event, context);
