import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { AuthorizerConfig } from '../auth/authorizer-config.ts';
import { log } from '../log.ts';
import { cachedSecret } from './cached-secret.ts';
import { InvocationSlot } from './invocation-slot.ts';
import { invocationLogContext } from './log-context.ts';

const apiTokens = new InvocationSlot<unknown>('the API tokens secret');

/**
 * The authorizer's chain: the API tokens secret loaded (the handler reads it with
 * `apiTokensOf(context)`); a failure to read it is logged and thrown, and API Gateway answers 500.
 * Not traced: it runs before every uncached request, and the tracer with the X-Ray SDK would more
 * than double its bundle; Lambda's own segment still shows each of its invocations.
 */
export function authorizerChain<E, R>(
  config: AuthorizerConfig,
  handler: (event: E, context: Context) => Promise<R>,
) {
  const handle = middy<E, R>()
    .use(invocationLogContext('authorizer'))
    .use({
      onError: (request) => {
        log.error('authorizer failed', { err: request.error });
      },
    })
    .use(
      cachedSecret(
        { secretId: config.apiTokensSecretId, cacheKey: 'api-tokens', cacheExpiry: config.apiTokensCacheMs },
        (secret, context) => apiTokens.set(context, secret),
      ),
    )
    .handler(handler);
  return (event: E, context: Context): Promise<R> => handle(event, context);
}

export function apiTokensOf(context: Context): unknown {
  return apiTokens.of(context);
}
