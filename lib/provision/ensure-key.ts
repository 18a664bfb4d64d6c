import { ConflictError, UnavailableError, UpstreamError } from '../errors.ts';
import { expiryOf, hashKey, isExpired, isLabKey, newKeyValue } from '../key-identity.ts';
import { type PinnedKey, pinStoredKey, readStoredKey, replaceStoredKey } from '../key-store.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { isFault } from '../litellm/errors.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { KeySpec } from './key-spec.ts';

/** A lab's key as provisioning leaves it: live in LiteLLM and stored under its secret name. */
export interface EnsuredKey {
  readonly spec: KeySpec;
  readonly value: string;
  readonly keyId: string;
  readonly secretArn: string;
  readonly models: readonly string[];
  readonly duration: string;
  readonly packageName: string;
  readonly expires: Date | undefined;
  /** False when the lab already had this key (a retry or a replayed event). */
  readonly created: boolean;
  /** An expired key of this lab held the alias and was deleted to make room. */
  readonly replacedExpired: boolean;
}

export interface EnsureKeyDeps {
  readonly litellm: LiteLlmClient;
  /** Checks the spec's models against the proxy; called once before anything is written. */
  readonly checkModels: () => Promise<void>;
  readonly now?: () => Date;
}

/**
 * Make sure `spec`'s key exists and return its value. The value is chosen and stored before LiteLLM
 * sees it, so every retry, replayed event or concurrent call converges on the same single key.
 */
export async function ensureKey(spec: KeySpec, deps: EnsureKeyDeps): Promise<EnsuredKey> {
  const now = deps.now ?? (() => new Date());
  for (let round = 1; round <= 3; round++) {
    const stored = await readStoredKey(spec.secretName);
    if (stored.state === 'absent') {
      await deps.checkModels();
      const pinned = await pinStoredKey(spec.secretName, newKeyValue(), {
        guid: spec.guid,
        'key-alias': spec.alias,
      });
      return createKey(spec, pinned, false, deps.litellm, now);
    }
    const storedHash = hashKey(stored.value);
    const lookup = await deps.litellm.getKeyInfo(storedHash);
    const record = lookup.state === 'live' ? lookup.record : undefined;
    if (record && !isLabKey(record, spec.guid, spec.user)) {
      // Lab `a-user1` and user `user1` of lab `a` share an alias, and so a secret name.
      throw new ConflictError(
        `key alias ${spec.alias} is held by a key that does not belong to ${owner(spec)}`,
      );
    }
    if (record && !isExpired(record, now())) return existingKey(spec, stored, storedHash, record);
    await deps.checkModels();
    if (record) {
      // A fresh value for the new term: the expired one may have been handed to someone before.
      const pinned = await replaceStoredKey(spec.secretName, newKeyValue(), storedHash);
      await deps.litellm.deleteKeys([storedHash]);
      log.info('replacing expired key', { alias: spec.alias, key_id: storedHash });
      return createKey(spec, pinned, true, deps.litellm, now);
    }
    if (lookup.state === 'deleted') {
      // Deleted outside this service, perhaps revoked on purpose: the new key gets a new value.
      const pinned = await replaceStoredKey(spec.secretName, newKeyValue(), storedHash);
      log.info('replacing a key LiteLLM reports deleted', { alias: spec.alias, key_id: storedHash });
      return createKey(spec, pinned, false, deps.litellm, now);
    }
    // Stored but not in LiteLLM: an earlier attempt stopped before (or during) /key/generate, or a
    // concurrent replacement just deleted it. Only the value still stored may be used.
    const again = await readStoredKey(spec.secretName);
    if (again.state === 'present' && again.value === stored.value) {
      return createKey(spec, { ...stored, won: true }, false, deps.litellm, now);
    }
  }
  throw new UnavailableError(`the stored key of ${spec.alias} keeps changing; retry shortly`, 5);
}

function owner(spec: KeySpec): string {
  return spec.user ? `user ${spec.user} of lab ${spec.guid}` : `lab ${spec.guid}`;
}

function existingKey(
  spec: KeySpec,
  stored: { value: string; arn: string },
  keyId: string,
  record: KeyRecord,
): EnsuredKey {
  const metadata = record.metadata ?? {};
  return {
    spec,
    value: stored.value,
    keyId,
    secretArn: stored.arn,
    models: record.models,
    duration: typeof metadata.duration === 'string' ? metadata.duration : spec.duration,
    packageName: typeof metadata.package === 'string' ? metadata.package : spec.packageName,
    expires: expiryOf(record),
    created: false,
    replacedExpired: false,
  };
}

async function createKey(
  spec: KeySpec,
  pinned: PinnedKey,
  replacedBefore: boolean,
  litellm: LiteLlmClient,
  now: () => Date,
): Promise<EnsuredKey> {
  const keyId = hashKey(pinned.value);
  const request = {
    key: pinned.value,
    key_alias: spec.alias,
    models: spec.models,
    duration: spec.duration,
    user_id: spec.userId,
    metadata: spec.metadata,
    max_budget: spec.maxBudget,
    ...(spec.tpmLimit === undefined ? {} : { tpm_limit: spec.tpmLimit }),
    ...(spec.rpmLimit === undefined ? {} : { rpm_limit: spec.rpmLimit }),
  };
  let replacedExpired = replacedBefore;
  let holders: KeyRecord[] | undefined;
  try {
    await litellm.generateKey(request);
  } catch (error) {
    if (!isFault(error, 'duplicate-alias')) throw error;
    // The alias is taken: by our own key when an earlier answer was lost, or by a key to look at.
    holders = await litellm.listKeysByAlias(spec.alias);
    if (!holders.some((holder) => holder.token === keyId)) {
      replacedExpired = (await clearAlias(spec, holders, litellm, now())) || replacedExpired;
      await litellm.generateKey(request);
      holders = undefined;
    }
  }
  holders ??= await litellm.listKeysByAlias(spec.alias);
  const mine = holders.find((holder) => holder.token === keyId);
  if (!mine) throw new UpstreamError(`LiteLLM accepted key ${spec.alias} but does not list it`);
  await removeStrays(spec, keyId, holders, litellm);
  return {
    spec,
    value: pinned.value,
    keyId,
    secretArn: pinned.arn,
    models: spec.models,
    duration: spec.duration,
    packageName: spec.packageName,
    expires: expiryOf(mine),
    created: pinned.won,
    replacedExpired,
  };
}

/**
 * Free the alias of expired keys of this lab; anything else holding it is refused, untouched.
 * Returns whether an expired key was deleted.
 */
async function clearAlias(
  spec: KeySpec,
  holders: KeyRecord[],
  litellm: LiteLlmClient,
  now: Date,
): Promise<boolean> {
  if (holders.some((holder) => !isLabKey(holder, spec.guid, spec.user))) {
    throw new ConflictError(
      `key alias ${spec.alias} is held by a key that does not belong to ${owner(spec)}`,
    );
  }
  if (holders.some((holder) => !isExpired(holder, now))) {
    throw new ConflictError(
      `key alias ${spec.alias} holds a live key of ${owner(spec)} whose value is not stored by this service; ` +
        'destroy the lab (DELETE /keys/{guid}) before provisioning it again',
    );
  }
  const expired = holders.flatMap((holder) => (holder.token ? [holder.token] : []));
  if (expired.length > 0) {
    await litellm.deleteKeys(expired);
    log.info('deleted expired keys holding the alias', { alias: spec.alias, count: expired.length });
  }
  return expired.length > 0;
}

/** LiteLLM's alias check is not atomic: delete other keys of this lab that slipped in under our alias. */
async function removeStrays(spec: KeySpec, keyId: string, holders: KeyRecord[], litellm: LiteLlmClient) {
  const others = holders.filter((holder) => holder.token !== keyId);
  const strays = others.flatMap((holder) =>
    holder.token && isLabKey(holder, spec.guid, spec.user) ? [holder.token] : [],
  );
  if (strays.length > 0) {
    await litellm.deleteKeys(strays);
    log.warn('deleted duplicate keys under the alias', { alias: spec.alias, count: strays.length });
  }
  if (others.length > strays.length) {
    log.warn('alias shared with keys that are not this lab’s; left untouched', {
      alias: spec.alias,
      count: others.length - strays.length,
    });
  }
}
