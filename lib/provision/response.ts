import { formatExpiry } from '../duration.ts';
import type { EnsuredKey } from './ensure-key.ts';
import type { LabKeys } from './provision-lab.ts';

/** What a lab sees of its keys: the role's field names, so AgnosticD consumers keep working. */
export function provisionResponse(lab: LabKeys, publicUrl: string): Record<string, unknown> {
  const [first] = lab.keys as [EnsuredKey, ...EnsuredKey[]];
  const endpoint = publicUrl.replace(/\/+$/, '');
  const baseUrl = `${endpoint}/v1`;
  const expires = formatExpiry(first.expires);
  const facts: Record<string, unknown> = {
    litellm_virtual_key: first.value,
    litellm_key_alias: first.spec.alias,
    litellm_key_id: first.keyId,
    litellm_api_endpoint: endpoint,
    litellm_api_base_url: baseUrl,
    litellm_available_models: first.models,
    litellm_key_duration: first.duration,
    litellm_key_expires: expires,
    subscription_package: first.packageName,
  };
  const perUser = first.spec.user === undefined ? undefined : usersFacts(lab.keys);
  const messages = [
    `LiteLLM API Base URL: ${baseUrl}`,
    ...(perUser
      ? lab.keys.map((key) => `LiteLLM Virtual Key for ${key.spec.user}: ${key.value}`)
      : [`LiteLLM Virtual Key: ${first.value}`]),
    `Available Models: ${first.models.join(', ')}`,
    `Key Duration: ${first.duration}`,
    ...(expires ? [`Key Expires: ${expires}`] : []),
  ];
  return {
    ...facts,
    ...perUser?.response,
    replaced_expired_key: lab.keys.some((key) => key.replacedExpired),
    user_info: {
      messages,
      data: { ...facts, litellm_available_models_list: first.models.join(', '), ...perUser?.data },
    },
  };
}

/** Multi-user labs: the `users` list and arrays of the answer, and the role's per-user data keys. */
function usersFacts(keys: readonly EnsuredKey[]) {
  const data: Record<string, string> = {};
  const users = keys.map((key) => {
    const user = key.spec.user ?? '';
    data[`litellm_${user}_virtual_key`] = key.value;
    data[`litellm_${user}_key_alias`] = key.spec.alias;
    data[`litellm_${user}_key_id`] = key.keyId;
    return {
      user,
      litellm_virtual_key: key.value,
      litellm_key_alias: key.spec.alias,
      litellm_key_id: key.keyId,
      litellm_key_expires: formatExpiry(key.expires),
    };
  });
  return {
    response: {
      users,
      litellm_virtual_keys: keys.map((key) => key.value),
      litellm_key_aliases: keys.map((key) => key.spec.alias),
    },
    data,
  };
}
