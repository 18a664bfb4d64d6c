import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { httpChain, litellmFor, withServiceContext } from '../lib/middleware.ts';
import { guidSchema, parseInput } from '../lib/schemas.ts';
import { labStatus } from '../lib/status/lab-status.ts';

const config = getConfig();
const requestSchema = z.strictObject({ guid: guidSchema });

const http = httpChain(config, 'status', async (event, context) => {
  const { guid } = parseInput(
    requestSchema,
    { ...event.queryStringParameters, guid: event.pathParameters?.guid },
    'status request',
  );
  const { litellm } = litellmFor(config, context);
  return jsonResponse(200, await labStatus(guid, litellm, config));
});

/** `GET /keys/{guid}`: what LiteLLM holds for a lab. */
export const handler = (event: APIGatewayProxyEventV2, context: Context) =>
  withServiceContext(http)(event, context);
