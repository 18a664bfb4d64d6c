import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, Context, EventBridgeEvent } from 'aws-lambda';

const EVENTS = new URL('../../events/', import.meta.url);

/** A sample from events/, parsed fresh on each call so tests can change it freely. */
export function sampleEvent<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, EVENTS), 'utf8')) as T;
}

/** An HTTP sample as API Gateway would send it now (its arrival time orders it against lab events). */
function httpSample(name: string): APIGatewayProxyEventV2 {
  const event = sampleEvent<APIGatewayProxyEventV2>(name);
  event.requestContext.timeEpoch = Date.now();
  return event;
}

/** `POST /keys` as API Gateway sends it, with `body` serialised (or passed through when already a string). */
export function postKeysEvent(body: unknown, options: { base64?: boolean } = {}): APIGatewayProxyEventV2 {
  const event = httpSample('http-post-keys.json');
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  event.body = options.base64 ? Buffer.from(text).toString('base64') : text;
  event.isBase64Encoded = options.base64 ?? false;
  return event;
}

/** A `/keys/{guid}` route event from its sample, for another guid, query string or body. */
function labRouteEvent(
  sample: string,
  guid: string,
  options: { query?: Record<string, string>; body?: unknown } = {},
): APIGatewayProxyEventV2 {
  const event = httpSample(sample);
  const path = event.rawPath.replace('abc12', encodeURIComponent(guid));
  event.rawPath = path;
  event.requestContext.http.path = path;
  event.pathParameters = { guid };
  if (options.query) {
    event.queryStringParameters = options.query;
    event.rawQueryString = new URLSearchParams(options.query).toString();
  }
  if (options.body !== undefined) {
    event.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  return event;
}

/** `GET /keys` with a query string, as API Gateway sends it (no path parameter). */
export function listKeysEvent(query: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const event = httpSample('http-get-keys.json');
  event.routeKey = 'GET /keys';
  event.rawPath = '/keys';
  event.requestContext.http.path = '/keys';
  event.requestContext.routeKey = 'GET /keys';
  delete event.pathParameters;
  event.queryStringParameters = query;
  event.rawQueryString = new URLSearchParams(query).toString();
  return event;
}

export const deleteKeysEvent = (guid: string, query?: Record<string, string>) =>
  labRouteEvent('http-delete-keys.json', guid, query ? { query } : {});
export const getKeysEvent = (guid: string, query?: Record<string, string>) =>
  labRouteEvent('http-get-keys.json', guid, query ? { query } : {});
export const extendKeysEvent = (guid: string, body: unknown) =>
  labRouteEvent('http-post-extend.json', guid, { body });

/** A lab event from its sample, sent now (its `time` orders it against the lab's other changes). */
function labLifecycleEvent(sample: string, detail: unknown): EventBridgeEvent<string, unknown> {
  return {
    ...sampleEvent<EventBridgeEvent<string, unknown>>(sample),
    time: new Date().toISOString(),
    detail,
  };
}

export const labProvisionedEvent = (detail: unknown) =>
  labLifecycleEvent('eventbridge-lab-provisioned.json', detail);
export const labDestroyedEvent = (detail: unknown) =>
  labLifecycleEvent('eventbridge-lab-destroyed.json', detail);
export const labExtendedEvent = (detail: unknown) =>
  labLifecycleEvent('eventbridge-lab-extended.json', detail);

/** The nightly schedule's event. */
export const scheduledSweepEvent = () =>
  sampleEvent<EventBridgeEvent<string, unknown>>('schedule-sweep.json');

let invocation = 0;

/** A Lambda context with a real deadline. */
export function lambdaContext(timeoutMs = 29_000): Context {
  const end = Date.now() + timeoutMs;
  invocation++;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'litellm-virtual-keys-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:litellm-virtual-keys-test',
    memoryLimitInMB: '512',
    awsRequestId: `test-request-${invocation}`,
    logGroupName: '/aws/lambda/litellm-virtual-keys-test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A route event as another API client sends it: the grants its authorizer decision carries. */
export function asClient<T extends APIGatewayProxyEventV2>(
  event: T,
  client: string,
  scopes: readonly string[],
  limits?: Record<string, unknown>,
): T {
  Object.assign(event.requestContext, {
    authorizer: {
      lambda: { client, scopes: scopes.join(' '), ...(limits ? { limits: JSON.stringify(limits) } : {}) },
    },
  });
  return event;
}
