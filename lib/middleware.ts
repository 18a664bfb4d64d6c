import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import { clearCache } from '@middy/util';
import type { APIGatewayProxyEventV2, Context, EventBridgeEvent } from 'aws-lambda';
import { httpCaller, labEventCaller } from './auth/client-grants.ts';
import type { Config } from './config.ts';
import { putEvents } from './events/bus.ts';
import { failedEvent } from './events/results.ts';
import {
  type HttpResult,
  logFailure,
  problemOf,
  problemResponse,
  refuseLargeBody,
  refuseLargeDetail,
  toHttpError,
} from './http.ts';
import type { Lifecycle } from './lab/lifecycle.ts';
import { KeyClaims } from './ledger/key-claims.ts';
import { LabLedger } from './ledger/lab-ledger.ts';
import { LiteLlmClient } from './litellm/client.ts';
import { isFault } from './litellm/errors.ts';
import { readMasterSecret } from './master-key.ts';
import { publishFailure } from './metrics.ts';
import { authorizerContextOf, cachedSecret, invocationLogContext } from './middleware-parts.ts';

/** The Lambda context once the master-key secret is loaded (as middy hands it over: string or parsed JSON). */
export interface ServiceContext extends Context {
  readonly litellmSecret: unknown;
}

export type LabEvent = EventBridgeEvent<string, unknown>;
type HttpHandler = (event: APIGatewayProxyEventV2, context: ServiceContext) => Promise<HttpResult>;
type EventHandler<E, R> = (event: E, context: ServiceContext) => Promise<R>;

const MASTER_KEY_CACHE = 'litellm-master-key';

const masterKeySecret = (config: Config) =>
  cachedSecret('litellmSecret', config.litellm.masterKeySecretId, MASTER_KEY_CACHE, config.secretsCacheMs);

/** A master key LiteLLM refuses may have been rotated since it was cached: the next call reads it afresh. */
function forgetRefusedMasterKey(error: unknown): void {
  if (isFault(error, 'master-key-refused')) clearCache([MASTER_KEY_CACHE]);
}

/** Any failure becomes an RFC 9457 response; registered first, so its onError runs last. */
function problemResponses(
  config: Config,
  functionName: string,
): middy.MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    onError: (request) => {
      forgetRefusedMasterKey(request.error);
      const mapped = toHttpError(request.error);
      logFailure(`${functionName} failed`, request.error, mapped, { route: request.event.routeKey });
      publishFailure(functionName, mapped.status, request.event.body, config.packages);
      request.response = problemResponse(mapped);
    },
  };
}

/** HTTP API (payload 2.0, headers already lower-case): JSON body parsed (base64 too), master key loaded, problems mapped. */
export function httpChain(
  config: Config,
  functionName: string,
  handler: HttpHandler,
  options = { jsonBody: false },
) {
  const chain = middy<APIGatewayProxyEventV2, HttpResult, Error, ServiceContext>()
    .use(invocationLogContext(functionName))
    .use(problemResponses(config, functionName));
  // Content-Type is not insisted on, so a curl without -H is understood; the option exists in
  // @middy/http-json-body-parser 6.4.5's code but not in its typings.
  const bodyOptions = { disableContentTypeCheck: true } as Parameters<typeof httpJsonBodyParser>[0];
  // Measured before anything parses it: a large body costs nothing but this refusal.
  chain.before((request) => refuseLargeBody(request.event.body, request.event.isBase64Encoded));
  if (options.jsonBody) chain.use(httpJsonBodyParser(bodyOptions));
  return chain.use(masterKeySecret(config)).handler(handler);
}

/**
 * EventBridge and direct invokes: a permanent failure (bad detail or input) is logged, announced as
 * `Virtual Key Failed` and settled, so Lambda does not retry it; anything else is rethrown, so
 * Lambda retries and finally parks the event in the failure queue. So is a permanent failure whose
 * announcement does not get through: the event is kept rather than dropped unannounced.
 */
export function eventChain<R, E = LabEvent>(
  config: Config,
  functionName: string,
  handler: EventHandler<E, R>,
) {
  return middy<E, R | { outcome: 'rejected'; status: number; detail: string }, Error, ServiceContext>()
    .use(invocationLogContext(functionName))
    .use({
      onError: async (request) => {
        forgetRefusedMasterKey(request.error);
        const mapped = toHttpError(request.error);
        const event = request.event as Partial<LabEvent> | null;
        const guid = (event?.detail as { guid?: unknown } | null | undefined)?.guid;
        // Capped: a lab event's fields are anyone's text, up to EventBridge's 256 KiB.
        const capped = (value: unknown) => (typeof value === 'string' ? value.slice(0, 256) : undefined);
        logFailure(`${functionName} failed`, request.error, mapped, {
          detail_type: capped(event?.['detail-type']),
          event_id: capped(event?.id),
          guid: capped(guid),
        });
        publishFailure(functionName, mapped.status, event?.detail, config.packages);
        if (!mapped.permanent) return;
        // Lab lifecycle events are answered on the bus; a manual invoke gets its answer back.
        if (event && typeof event['detail-type'] === 'string' && event.source === config.labEventSource) {
          const undelivered = await putEvents(config, [failedEvent(event, mapped)]);
          if (undelivered.length > 0) return;
        }
        request.response = { outcome: 'rejected', status: mapped.status, detail: problemOf(mapped).detail };
      },
    })
    .before((request) => refuseLargeDetail((request.event as Partial<LabEvent> | null)?.detail))
    .use(masterKeySecret(config))
    .handler(handler);
}

function isHttpEvent(event: unknown): event is APIGatewayProxyEventV2 {
  return typeof event === 'object' && event !== null && 'requestContext' in event && 'routeKey' in event;
}

/** Call a chain built for ServiceContext with the plain Lambda context; the secrets middleware completes it. */
export function withServiceContext<E, R>(chain: (event: E, context: ServiceContext) => Promise<R>) {
  return (event: E, context: Context) => chain(event, context as ServiceContext);
}

/** One Lambda handler for a function's HTTP route and its EventBridge rule. */
export function httpOrEvent<R>(
  http: (event: APIGatewayProxyEventV2, context: ServiceContext) => Promise<HttpResult>,
  labEvent: (event: LabEvent, context: ServiceContext) => Promise<R>,
) {
  return (event: APIGatewayProxyEventV2 | LabEvent, context: Context) =>
    isHttpEvent(event)
      ? withServiceContext(http)(event, context)
      : withServiceContext(labEvent)(event, context);
}

/** Lambda time left, less a margin to still answer; bounds every LiteLLM retry. */
export function deadlineOf(context: Context, marginMs = 1000): () => number {
  const end = Date.now() + context.getRemainingTimeInMillis() - marginMs;
  return () => end;
}

/**
 * What an operation works with in this invocation: the LiteLLM client (the master key from the
 * loaded secret, every call bounded by the deadline), the ledger, and who holds a lab's lease.
 */
export function depsFor(config: Config, context: ServiceContext, marginMs?: number) {
  const secret = readMasterSecret(context.litellmSecret);
  const deadline = deadlineOf(context, marginMs);
  return {
    litellm: new LiteLlmClient(config.litellm, secret.masterKey, deadline),
    secret,
    deadline: deadline(),
    ledger: new LabLedger(config.labsTable),
    claims: new KeyClaims(config.labsTable),
    leaseOwner: `${context.functionName}:${context.awsRequestId}:${randomUUID().slice(0, 8)}`,
    target: 'default',
  };
}

/** A lifecycle time given by a caller is used only when it is plausible (within a day of now). */
function plausible(epochMs: number | undefined): Date {
  const now = Date.now();
  return epochMs !== undefined && Math.abs(epochMs - now) < 86_400_000 * 2
    ? new Date(epochMs)
    : new Date(now);
}

/** An HTTP request is fresh: it happened when API Gateway received it; the client is the authorizer's. */
export function httpLifecycle(event: APIGatewayProxyEventV2): Lifecycle {
  return {
    trigger: 'http',
    occurredAt: plausible(event.requestContext?.timeEpoch),
    caller: httpCaller(authorizerContextOf(event)),
  };
}

/** A lab event happened at its `time`, however late it arrives. */
export function eventLifecycle(event: LabEvent): Lifecycle {
  const time = Date.parse(String(event.time));
  return {
    trigger: 'event',
    occurredAt: Number.isNaN(time) ? new Date() : new Date(time),
    caller: labEventCaller(String(event.source)),
  };
}
