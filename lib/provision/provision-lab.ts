import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { BadRequestError } from '../errors.ts';
import { recordRoster } from '../lab/roster.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { unsupportedRelease } from '../litellm/errors.ts';
import { OLDEST_SUPPORTED } from '../litellm/release.ts';
import { isServed } from '../litellm/served-models.ts';
import { type EnsuredKey, ensureKey } from './ensure-key.ts';
import { keySpecFor } from './key-spec.ts';
import type { ProvisionRequest } from './request.ts';

export interface LabKeys {
  readonly guid: string;
  readonly keys: readonly EnsuredKey[];
  /** True when this call created at least one key (HTTP 201), false for a pure replay (200). */
  readonly created: boolean;
}

/** Fails with 400 naming every model the proxy does not serve; asked once per request. */
function modelCheck(litellm: LiteLlmClient, request: ProvisionRequest): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => {
    pending ??= litellm.listModels().then((served) => {
      const missing = request.models.filter((model) => !isServed(model, served));
      if (missing.length === 0) return;
      const field = request.customModels ? 'models' : 'package';
      const owner = request.customModels ? '' : ` (package ${request.packageName})`;
      throw new BadRequestError(`model(s) ${missing.join(', ')}${owner} not served by the LiteLLM proxy`, [
        { field, message: `unknown model(s): ${missing.join(', ')}` },
      ]);
    });
    return pending;
  };
}

/**
 * Make every key of a lab (one, or one per user) or fail as a whole. After a failure no further
 * user's key is started (LiteLLM is likely down; the caller hears so at once); a retry makes the
 * keys still missing and returns the same values for those already made. A multi-user lab's
 * users are recorded first, so that destroy finds every key that may exist, whatever happens after.
 */
export async function provisionLab(
  request: ProvisionRequest,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'labUserDomain' | 'litellm'>,
): Promise<LabKeys> {
  const release = await litellm.release();
  if (release.verdict === 'older') throw unsupportedRelease(release.version ?? 'unknown', OLDEST_SUPPORTED);
  const checkModels = modelCheck(litellm, request);
  const { users } = request;
  if (users) await recordRoster(config.keySecretPrefix, request.guid, users, { beforeWrite: checkModels });
  const specs = (users ?? [undefined]).map((user) => keySpecFor(request, config, user));
  const keys = await eachLimited(
    specs,
    config.litellm.maxConnections,
    (spec) => ensureKey(spec, { litellm, checkModels }),
    {
      stopAfterFailure: true,
    },
  );
  return { guid: request.guid, keys, created: keys.some((key) => key.created || key.replacedExpired) };
}
