import type middy from '@middy/core';
import secretsManager from '@middy/secrets-manager';
import { getCache, getInternal } from '@middy/util';
import type { Context } from 'aws-lambda';
import { countThrottling } from '../aws-errors.ts';
import { unwrapMiddyInternal } from '../problems.ts';
import { traced } from '../tracer-state.ts';

/** The secret's fetch and its hand-over, in that order, for a chain's `use`. */
export type SecretMiddlewares = middy.MiddlewareObj<unknown, unknown, Error, Context, { secret: unknown }>[];

export interface SecretSource {
  readonly secretId: string;
  /** middy's cache key: clearing it makes the next invocation read the secret afresh. */
  readonly cacheKey: string;
  /** How long a value is kept, so a rotated one is picked up without a redeploy. */
  readonly cacheExpiry: number;
}

/**
 * A secret read from Secrets Manager on an invocation's first use (not at import: a failed
 * prefetch would be an unhandled rejection), cached, and handed to `use` with the invocation's
 * context. middy re-reads it on a timer; that timer is unref'd, so it never keeps a process alive
 * after its work (`serverless invoke local`, scripts).
 */
export function cachedSecret(
  source: SecretSource,
  use: (secret: unknown, context: Context) => void,
): SecretMiddlewares {
  const fetch = secretsManager({
    fetchData: { secret: source.secretId },
    cacheKey: source.cacheKey,
    cacheExpiry: source.cacheExpiry,
    disablePrefetch: true,
    // Made in the first invocation's chain, after the tracer (when on) has loaded.
    awsClientCapture: traced,
  });
  return [
    fetch,
    {
      before: async (request) => {
        const { secret } = await getInternal(['secret'], request).catch((error: unknown) => {
          countThrottling('SecretsManager', unwrapMiddyInternal(error));
          throw error;
        });
        getCache(source.cacheKey).refresh?.unref?.();
        use(secret, request.context);
      },
    },
  ];
}
