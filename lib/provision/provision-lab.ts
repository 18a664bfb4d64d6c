import type { Config } from '../config.ts';
import { BadRequestError } from '../errors.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { type EnsuredKey, ensureKey } from './ensure-key.ts';
import { keySpecFor } from './key-spec.ts';
import type { ProvisionRequest } from './request.ts';

export interface LabKeys {
  readonly guid: string;
  readonly keys: readonly EnsuredKey[];
  /** True when this call created at least one key (HTTP 201), false for a pure replay (200). */
  readonly created: boolean;
}

function userNames(users: ProvisionRequest['users']): readonly (string | undefined)[] {
  if (users === undefined) return [undefined];
  return typeof users === 'number' ? Array.from({ length: users }, (_, i) => `user${i + 1}`) : users;
}

/** Fails with 400 naming every model the proxy does not serve; asked once per request. */
function modelCheck(litellm: LiteLlmClient, request: ProvisionRequest): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => {
    pending ??= litellm.listModels().then((served) => {
      const missing = request.models.filter((model) => !served.includes(model));
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

/** Run `work` over `items`, at most `limit` at a time; every item runs, the first failure is rethrown. */
async function eachLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}

/**
 * Make every key of a lab (one, or one per user) or fail as a whole; a retry completes what is
 * missing and returns the same values for the keys already made.
 */
export async function provisionLab(
  request: ProvisionRequest,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'labUserDomain' | 'litellm'>,
): Promise<LabKeys> {
  const checkModels = modelCheck(litellm, request);
  const specs = userNames(request.users).map((user) => keySpecFor(request, config, user));
  const keys = await eachLimited(specs, config.litellm.maxConnections, (spec) =>
    ensureKey(spec, { litellm, checkModels }),
  );
  return { guid: request.guid, keys, created: keys.some((key) => key.created || key.replacedExpired) };
}
