import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { clearCache, getCache, processCache } from '@middy/util';
import { awsUnavailable, countThrottling } from '../aws-errors.ts';
import { type MasterSecret, readMasterSecret } from '../master-key.ts';
import { secretsManager } from '../secrets-manager.ts';
import { DEFAULT_TARGET, type LiteLlmTarget } from '../target-config.ts';

/** middy's cache key of a target's master key (the default target's is the one it always had). */
function cacheKeyOf(target: LiteLlmTarget): string {
  return target.name === DEFAULT_TARGET ? 'litellm-master-key' : `litellm-master-key:${target.name}`;
}

/**
 * Each target's master-key secret, read on the first call that needs that target (a lab on
 * another target never waits for it, nor fails with it) and kept in middy's cache for `cacheMs`,
 * so a rotation is picked up without a redeploy. A failed read is not kept. middy re-reads a
 * value when it expires; that timer is unref'd, so it never keeps a finished process alive.
 */
export class MasterKeys {
  constructor(private readonly cacheMs: number) {}

  of(target: LiteLlmTarget): Promise<MasterSecret> {
    const cacheKey = cacheKeyOf(target);
    const { value }: { value: Promise<MasterSecret> } = processCache(
      { cacheKey, cacheExpiry: this.cacheMs },
      () => {
        const secret = read(target);
        secret.catch(() => {
          if (getCache(cacheKey).value === secret) clearCache([cacheKey]);
        });
        queueMicrotask(() => getCache(cacheKey).refresh?.unref?.());
        return secret;
      },
    );
    return value;
  }

  /** The target refused its master key: it may have been rotated since it was read. */
  forget(target: LiteLlmTarget): void {
    clearCache([cacheKeyOf(target)]);
  }
}

async function read(target: LiteLlmTarget): Promise<MasterSecret> {
  try {
    const out = await secretsManager().send(
      new GetSecretValueCommand({ SecretId: target.masterKeySecretId }),
    );
    return readMasterSecret(parsed(out.SecretString ?? ''));
  } catch (error) {
    countThrottling('SecretsManager', error);
    throw awsUnavailable(`Secrets Manager (the master key of LiteLLM target ${target.name})`, error) ?? error;
  }
}

/** A JSON secret is an object; anything else is the key itself. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
