import type { Config } from '../config.ts';
import { formatExpiry } from '../duration.ts';
import { NotFoundError } from '../errors.ts';
import { expiryOf, isExpired } from '../key-identity.ts';
import { findLabKeys, labKeysOf } from '../lab/lab-keys.ts';
import type { LiteLlmClient } from '../litellm/client.ts';

/**
 * `GET /keys/{guid}`: every key of the lab (each user's, in a multi-user lab) as LiteLLM holds it,
 * expired ones included; 404 when none.
 */
export async function labStatus(
  guid: string,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'litellm'>,
  now = new Date(),
): Promise<Record<string, unknown>> {
  const lab = await findLabKeys(guid, litellm, config);
  const keys = labKeysOf(lab);
  if (keys.length === 0) throw new NotFoundError(`lab ${guid} has no key`);
  return {
    guid,
    keys: keys.map(({ alias, user, keyId, record, value }) => {
      const stored = lab.aliases.find((entry) => entry.alias === alias)?.stored;
      return {
        litellm_key_alias: alias,
        ...(user ? { user } : {}),
        litellm_key_id: keyId,
        litellm_available_models: record.models,
        litellm_key_expires: formatExpiry(expiryOf(record)),
        expired: isExpired(record, now),
        spend: record.spend ?? 0,
        max_budget: record.max_budget ?? null,
        blocked: record.blocked === true,
        created_at: record.created_at ?? null,
        package: record.metadata?.package ?? null,
        ...(value ? { litellm_virtual_key: value, secret_arn: stored?.arn } : {}),
      };
    }),
  };
}
