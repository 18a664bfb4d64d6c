import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { HttpResult } from '../http.ts';
import type { LabEvent } from './lab-event.ts';

function isHttpEvent(event: unknown): event is APIGatewayProxyEventV2 {
  return typeof event === 'object' && event !== null && 'requestContext' in event && 'routeKey' in event;
}

/** One Lambda handler for a function's HTTP route and its EventBridge rule. */
export function httpOrLabEvent<R>(
  http: (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>,
  labEvent: (event: LabEvent, context: Context) => Promise<R>,
) {
  return (event: APIGatewayProxyEventV2 | LabEvent, context: Context) =>
    isHttpEvent(event) ? http(event, context) : labEvent(event, context);
}
