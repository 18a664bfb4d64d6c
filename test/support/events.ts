import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, Context, EventBridgeEvent } from 'aws-lambda';

const EVENTS = new URL('../../events/', import.meta.url);

/** A sample from events/, parsed fresh on each call so tests can change it freely. */
export function sampleEvent<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, EVENTS), 'utf8')) as T;
}

/** `POST /keys` as API Gateway sends it, with `body` serialised (or passed through when already a string). */
export function postKeysEvent(body: unknown, options: { base64?: boolean } = {}): APIGatewayProxyEventV2 {
  const event = sampleEvent<APIGatewayProxyEventV2>('http-post-keys.json');
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  event.body = options.base64 ? Buffer.from(text).toString('base64') : text;
  event.isBase64Encoded = options.base64 ?? false;
  return event;
}

export function labProvisionedEvent(detail: unknown): EventBridgeEvent<'Lab Provisioned', unknown> {
  const event = sampleEvent<EventBridgeEvent<'Lab Provisioned', unknown>>('eventbridge-lab-provisioned.json');
  return { ...event, detail };
}

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
