import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { type HttpResult, problemResponse, refuseLargeBody } from '../http.ts';
import { publishOutcome } from '../metrics.ts';
import { logFailure, toProblem } from '../problems.ts';
import { tracing } from '../tracing.ts';
import { loadInvocationDeps } from './invocation-deps.ts';
import { invocationLogContext } from './log-context.ts';

export type HttpRouteHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

/** Any failure becomes an RFC 9457 response; registered first, so its onError runs last. */
function problemResponses(functionName: string): middy.MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    onError: (request) => {
      const mapped = toProblem(request.error);
      logFailure(`${functionName} failed`, request.error, mapped, { route: request.event.routeKey });
      publishOutcome(functionName, mapped.status);
      request.response = problemResponse(mapped);
    },
  };
}

/**
 * An HTTP API route (payload 2.0, headers already lower-case): a large body refused before it is
 * parsed, the JSON body parsed (base64 too), the invocation's dependencies loaded, problems mapped.
 * Content-Type is not insisted on, so a curl without -H is understood.
 */
export function httpRoute(
  config: Config,
  functionName: string,
  handler: HttpRouteHandler,
  options = { jsonBody: false },
) {
  const chain = middy<APIGatewayProxyEventV2, HttpResult>()
    .use(tracing())
    .use(invocationLogContext(functionName))
    .use(problemResponses(functionName))
    .before((request) => refuseLargeBody(request.event.body, request.event.isBase64Encoded));
  if (options.jsonBody) {
    const bodyOptions = { disableContentTypeCheck: true, disableContentTypeError: false };
    chain.use(httpJsonBodyParser(bodyOptions));
  }
  const handle = chain.use(loadInvocationDeps(config)).handler(handler);
  return (event: APIGatewayProxyEventV2, context: Context): Promise<HttpResult> => handle(event, context);
}
