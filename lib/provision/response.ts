import { formatExpiry } from '../duration.ts';
import type { AliasLookup } from './make-key.ts';
import type { ProvisionedKey, ProvisionedLab } from './provision-lab.ts';

/** What a lab sees of its keys: the role's field names, so AgnosticD consumers keep working. */
export function provisionResponse(lab: ProvisionedLab): Record<string, unknown> {
  const [first] = lab.keys as [ProvisionedKey, ...ProvisionedKey[]];
  const endpoint = lab.target.publicUrl.replace(/\/+$/, '');
  const facts = { ...keyFacts(first, endpoint), litellm_target: lab.target.name };
  const perUser = first.spec.user === undefined ? undefined : usersFacts(lab.keys, endpoint);
  const messages = [
    `LiteLLM API Base URL: ${facts.litellm_api_base_url}`,
    ...(perUser
      ? [
          `LiteLLM Virtual Keys: ${lab.keys.length}, one per user (${userList(lab.keys)})`,
          "Each user's key is in the user data as litellm_<user>_virtual_key",
        ]
      : [`LiteLLM Virtual Key: ${first.value}`]),
    `Available Models: ${first.models.join(', ')}`,
    `Key Duration: ${first.duration}`,
    ...(facts.litellm_key_expires ? [`Key Expires: ${facts.litellm_key_expires}`] : []),
  ];
  return {
    ...facts,
    ...perUser?.response,
    replaced_expired_key: lab.keys.some((key) => key.replacedExpired),
    ...aliasLookups(lab.keys),
    user_info: {
      messages,
      data: { ...facts, litellm_available_models_list: first.models.join(', '), ...perUser?.data },
      ...(perUser ? { users: perUser.scoped } : {}),
    },
  };
}

const LOOKUP_FINDINGS: Readonly<Record<AliasLookup, string>> = {
  'own-key': 'this-key',
  'left-behind': 'left-by-this-lab',
  nobody: 'nobody',
};

/**
 * Where LiteLLM refused an alias as taken and the service looked up its holder (the only time a
 * provision reads LiteLLM's key list), what it found: this very key (an earlier answer was lost),
 * keys this lab had left under the alias, deleted before the key was made, or nobody (the holder
 * was deleted meanwhile, and the key was asked for again).
 */
function aliasLookups(keys: readonly ProvisionedKey[]) {
  const looked = keys.filter((key) => key.aliasLookup);
  if (looked.length === 0) return {};
  return {
    alias_lookups: looked.map((key) => ({
      litellm_key_alias: key.spec.alias,
      reason: 'alias-taken',
      found: LOOKUP_FINDINGS[key.aliasLookup as AliasLookup],
    })),
  };
}

/** The role's facts about one key. */
function keyFacts(key: ProvisionedKey, endpoint: string) {
  return {
    litellm_virtual_key: key.value,
    litellm_key_alias: key.spec.alias,
    litellm_key_id: key.keyId,
    litellm_api_endpoint: endpoint,
    litellm_api_base_url: `${endpoint}/v1`,
    litellm_available_models: key.models,
    litellm_key_duration: key.duration,
    litellm_key_expires: formatExpiry(key.expires),
    subscription_package: key.packageName,
  };
}

/** The users' names for a one-line summary; a long list keeps its ends. */
function userList(keys: readonly ProvisionedKey[]): string {
  const names = keys.map((key) => key.spec.user ?? '');
  return names.length <= 10 ? names.join(', ') : `${names.slice(0, 3).join(', ')}, …, ${names.at(-1)}`;
}

/**
 * Multi-user labs: the `users` list and arrays of the answer; in the lab's user data, the role's
 * per-user keys and arrays; and each user's own data (AgnosticD's user-scoped user info, which
 * Showroom shows the logged-in user as `litellm_virtual_key` and the rest).
 */
function usersFacts(keys: readonly ProvisionedKey[], endpoint: string) {
  const perUserData: Record<string, string> = {};
  const scoped: Record<string, Record<string, unknown>> = {};
  const users = keys.map((key) => {
    const user = key.spec.user ?? '';
    perUserData[`litellm_${user}_virtual_key`] = key.value;
    perUserData[`litellm_${user}_key_alias`] = key.spec.alias;
    perUserData[`litellm_${user}_key_id`] = key.keyId;
    perUserData[`litellm_${user}_user_email`] = key.spec.userId;
    scoped[user] = {
      ...keyFacts(key, endpoint),
      litellm_available_models_list: key.models.join(', '),
      litellm_user_email: key.spec.userId,
    };
    return {
      user,
      litellm_virtual_key: key.value,
      litellm_key_alias: key.spec.alias,
      litellm_key_id: key.keyId,
      litellm_user_id: key.spec.userId,
      litellm_key_expires: formatExpiry(key.expires),
    };
  });
  const arrays = {
    litellm_virtual_keys: keys.map((key) => key.value),
    litellm_key_aliases: keys.map((key) => key.spec.alias),
  };
  return {
    response: { users, ...arrays },
    data: {
      ...perUserData,
      ...arrays,
      litellm_key_ids: keys.map((key) => key.keyId),
      litellm_user_ids: keys.map((key) => key.spec.userId),
      litellm_user_count: keys.length,
    },
    scoped,
  };
}
