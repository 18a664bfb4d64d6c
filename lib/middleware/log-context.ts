import type middy from '@middy/core';
import { apiClientOf } from '../auth/authorizer-context.ts';
import { setLogContext } from '../log.ts';

/** Every log line of the invocation names the function, the request id and, over HTTP, the API client. */
export function invocationLogContext(functionName: string): middy.MiddlewareObj {
  return {
    before: (request) => {
      const client = apiClientOf(request.event);
      setLogContext({
        function: functionName,
        request_id: request.context.awsRequestId,
        ...(client ? { client } : {}),
      });
    },
  };
}
