import { clearCache } from '@middy/util';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { type InvocationDeps, invocationDeps } from '../invocation/deps.ts';
import { isFault } from '../litellm/errors.ts';
import { readMasterSecret } from '../master-key.ts';
import { cachedSecret, type SecretMiddlewares } from './cached-secret.ts';
import { InvocationSlot } from './invocation-slot.ts';

const MASTER_KEY_CACHE = 'litellm-master-key';
const deps = new InvocationSlot<InvocationDeps>('the LiteLLM master key');

/**
 * Loads the master-key secret and builds the invocation's dependencies from it, with `marginMs`
 * of the invocation kept back from every call; the handler reads them with `depsOf(context)`.
 */
export function loadInvocationDeps(config: Config, marginMs = 1000): SecretMiddlewares {
  return cachedSecret(
    {
      secretId: config.litellm.masterKeySecretId,
      cacheKey: MASTER_KEY_CACHE,
      cacheExpiry: config.secretsCacheMs,
    },
    (secret, context) =>
      deps.set(context, invocationDeps(config, context, readMasterSecret(secret), marginMs)),
  );
}

export function depsOf(context: Context): InvocationDeps {
  return deps.of(context);
}

/** A master key LiteLLM refuses may have been rotated since it was cached: the next call reads it afresh. */
export function forgetRefusedMasterKey(error: unknown): void {
  if (isFault(error, 'master-key-refused')) clearCache([MASTER_KEY_CACHE]);
}
