import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { log } from '../log.ts';
import { cachedSecret, invocationLogContext } from '../middleware-parts.ts';
import type { AuthorizerConfig } from './authorizer-config.ts';

/** The API tokens for the authorizer; a failure to read them is logged and thrown (API Gateway answers 500). */
export function authorizerChain<E, R>(
  config: AuthorizerConfig,
  handler: (event: E, context: Context & { readonly apiTokens: unknown }) => Promise<R>,
) {
  return middy<E, R, Error, Context & { readonly apiTokens: unknown }>()
    .use(invocationLogContext('authorizer'))
    .use({
      onError: (request) => {
        log.error('authorizer failed', { err: request.error });
      },
    })
    .use(cachedSecret('apiTokens', config.apiTokensSecretId, 'api-tokens', config.apiTokensCacheMs))
    .handler(handler);
}
