import type middy from '@middy/core';
import { apiClientOf } from '../auth/authorizer-context.ts';
import { setLogContext } from '../log.ts';
import { requestIdsOf, setRequestIds } from '../request-ids.ts';

/**
 * Every log line of the invocation names the function and Lambda's request id; over HTTP, API
 * Gateway's request id (`api_request_id`, as its access log has it) and the API client; for a lab
 * event (or the schedule), the event's id (`event_id`). The same ids go into its result events.
 */
export function invocationLogContext(functionName: string): middy.MiddlewareObj {
  return {
    before: (request) => {
      const client = apiClientOf(request.event);
      const ids = requestIdsOf(request.event);
      setRequestIds(ids);
      setLogContext({
        function: functionName,
        request_id: request.context.awsRequestId,
        ...(ids.api_request_id ? { api_request_id: ids.api_request_id } : {}),
        ...(ids.lab_event_id ? { event_id: ids.lab_event_id } : {}),
        ...(client ? { client } : {}),
      });
    },
  };
}
