/* Middlewares every chain uses, the authorizer's included; kept apart so the authorizer's bundle stays small. */
import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import { getCache } from '@middy/util';
import type { Context } from 'aws-lambda';
import { setLogContext } from './log.ts';

/**
 * A secret on the Lambda context, cached for `cacheExpiry` ms so a rotated value is picked up
 * without a redeploy. middy re-reads it on a timer; that timer is unref'd, so it never keeps a
 * process alive after its work (`serverless invoke local`, scripts).
 */
export function cachedSecret(
  field: string,
  secretId: string,
  cacheKey: string,
  cacheExpiry: number,
): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  const fetch = secretsManager({
    fetchData: { [field]: secretId },
    setToContext: true,
    cacheKey,
    cacheExpiry,
    // Fetched on the first invocation, not at import: a failed prefetch would be an unhandled rejection.
    disablePrefetch: true,
  });
  return {
    before: async (request) => {
      await fetch.before?.(request as Parameters<NonNullable<typeof fetch.before>>[0]);
      (getCache(cacheKey).refresh as NodeJS.Timeout | undefined)?.unref();
    },
  };
}

/** What the authorizer put in the context of an HTTP API request (payload 2.0); undefined for other events. */
export function authorizerContextOf(event: unknown): unknown {
  return (event as { requestContext?: { authorizer?: { lambda?: unknown } } } | null)?.requestContext
    ?.authorizer?.lambda;
}

/** The API client the authorizer recognised, as API Gateway passes it to the route's function. */
export function apiClientOf(event: unknown): string | undefined {
  const client = (authorizerContextOf(event) as { client?: unknown } | undefined)?.client;
  return typeof client === 'string' ? client : undefined;
}

export function invocationLogContext(
  functionName: string,
): middy.MiddlewareObj<unknown, unknown, Error, Context> {
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
