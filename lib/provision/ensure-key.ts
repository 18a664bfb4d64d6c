import { ConflictError, UpstreamError } from '../errors.ts';
import { expiryOf, hashKey, isExpired, isLabKey, newKeyValue } from '../key-identity.ts';
import type { KeyStore, PinnedKey } from '../key-store.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { isFault } from '../litellm/errors.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { KeySpec } from './key-spec.ts';

/** A lab's key as provisioning leaves it: live in LiteLLM, stored under its secret name, in the ledger. */
export interface EnsuredKey {
  readonly spec: KeySpec;
  readonly value: string;
  readonly keyId: string;
  readonly secretArn: string;
  readonly models: readonly string[];
  readonly duration: string;
  readonly packageName: string;
  readonly expires: Date | undefined;
  /** This call made the key in LiteLLM (201); false when the lab already had it. */
  readonly created: boolean;
  /** An expired key of this lab held the alias and was deleted to make room. */
  readonly replacedExpired: boolean;
}

export interface EnsureKeyDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  /** Checks the spec's models against the proxy; called once before anything is written. */
  readonly checkModels: () => Promise<void>;
  /**
   * The lab predates the ledger (its keys were made before it existed): keys with our marker under
   * its aliases are taken as its own. Otherwise only recorded keys and stored values are.
   */
  readonly adopting: boolean;
  readonly keyStore: KeyStore;
  /** The LiteLLM target the key is on, recorded with it. */
  readonly target: string;
  readonly now: () => Date;
}

/**
 * Make sure `spec`'s key exists and return its value; called under the lab's lease, so no other
 * provision, extend or destroy of the lab runs meanwhile. The value is chosen and stored before
 * LiteLLM sees it, so a retry after any failure converges on the same single key.
 */
export async function ensureKey(
  spec: KeySpec,
  entry: KeyEntry | undefined,
  deps: EnsureKeyDeps,
): Promise<EnsuredKey> {
  const { now } = deps;
  const stored = await deps.keyStore.read(spec.secretName);
  if (stored.state === 'absent') {
    await deps.checkModels();
    // A recorded key whose value is gone cannot be handed out: it makes way for a new one.
    if (entry) await deps.litellm.deleteKeys([entry.keyId]);
    const pinned = await deps.keyStore.pin(spec.secretName, newKeyValue(), {
      guid: spec.guid,
      'key-alias': spec.alias,
    });
    return createKey(spec, pinned, { ...deps, entry, replacedExpired: false, now });
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
  if (record && !isExpired(record, now())) {
    const known = entry?.keyId === storedHash;
    if (!known) await recordKey(deps, spec, storedHash, record, now(), entry);
    // A key found but not recorded was made by an attempt that never answered, unless the lab predates the ledger.
    return existingKey(spec, stored, storedHash, record, !known && !deps.adopting);
  }
  await deps.checkModels();
  const recordedElsewhere = entry && entry.keyId !== storedHash ? [entry.keyId] : [];
  if (record || lookup.state === 'deleted' || entry?.keyId === storedHash) {
    // Expired, deleted outside this service, or recorded live yet gone from LiteLLM (deleted, or
    // a restored database): a new value, since the old one may have been revoked on purpose.
    const pinned = await deps.keyStore.replace(spec.secretName, newKeyValue(), storedHash);
    await deps.litellm.deleteKeys([storedHash, ...recordedElsewhere]);
    log.info('replacing a key that is no longer live', {
      alias: spec.alias,
      key_id: storedHash,
      reason: record ? 'expired' : lookup.state === 'deleted' ? 'deleted' : 'gone from LiteLLM',
    });
    return createKey(spec, pinned, { ...deps, entry, replacedExpired: record !== undefined, now });
  }
  // Stored but unknown to LiteLLM and never recorded: an earlier attempt stopped before (or
  // during) /key/generate, perhaps before the value was protected. The stored value is the one to
  // use, if it was pinned for this lab: lab `a-b` and user `b` of lab `a` share a secret name, and
  // the other lab's key may live on another LiteLLM target, where this one cannot see it.
  const pinnedFor = await deps.keyStore.pinnedFor(spec.secretName);
  if (pinnedFor !== undefined && pinnedFor !== spec.guid) {
    throw new ConflictError(
      `key alias ${spec.alias} holds a stored key of lab ${pinnedFor}, not of ${owner(spec)}; it is left alone`,
    );
  }
  await deps.keyStore.protect(stored.arn);
  return createKey(spec, { ...stored, won: true }, { ...deps, entry, replacedExpired: false, now });
}

function owner(spec: KeySpec): string {
  return spec.user ? `user ${spec.user} of lab ${spec.guid}` : `lab ${spec.guid}`;
}

function entryFor(
  spec: KeySpec,
  keyId: string,
  expires: Date | undefined,
  now: Date,
  target: string,
): KeyEntry {
  return {
    guid: spec.guid,
    target,
    alias: spec.alias,
    ...(spec.user ? { user: spec.user } : {}),
    keyId,
    secretName: spec.secretName,
    package: spec.packageName,
    ...(expires ? { expiresAt: expires.toISOString() } : {}),
    createdAt: now.toISOString(),
  };
}

/** Record the key live; a key it replaces (expired, or gone from LiteLLM) leaves the ledger. */
async function recordKey(
  deps: Pick<EnsureKeyDeps, 'ledger' | 'target'>,
  spec: KeySpec,
  keyId: string,
  record: KeyRecord,
  now: Date,
  replaced: KeyEntry | undefined,
) {
  const { ledger } = deps;
  await ledger.putKey(entryFor(spec, keyId, expiryOf(record), now, deps.target));
  if (replaced && replaced.keyId !== keyId) await ledger.deleteKeys([replaced]);
}

function existingKey(
  spec: KeySpec,
  stored: { value: string; arn: string },
  keyId: string,
  record: KeyRecord,
  created: boolean,
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
    created,
    replacedExpired: false,
  };
}

interface CreateContext extends EnsureKeyDeps {
  readonly entry: KeyEntry | undefined;
  readonly replacedExpired: boolean;
  readonly now: () => Date;
}

async function createKey(spec: KeySpec, pinned: PinnedKey, context: CreateContext): Promise<EnsuredKey> {
  const { litellm } = context;
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
    key_type: 'llm_api',
    allowed_routes: ['llm_api_routes'],
  } as const;
  let replacedExpired = context.replacedExpired;
  let holders: KeyRecord[] | undefined;
  try {
    await litellm.generateKey(request);
  } catch (error) {
    if (!isFault(error, 'duplicate-alias')) throw error;
    // The alias is taken: by our own key when an earlier answer was lost, or by a key to look at.
    holders = await litellm.listKeysByAlias(spec.alias);
    if (!holders.some((holder) => holder.token === keyId)) {
      replacedExpired = (await clearAlias(spec, holders, context)) || replacedExpired;
      await litellm.generateKey(request);
      holders = undefined;
    }
  }
  holders ??= await litellm.listKeysByAlias(spec.alias);
  const mine = holders.find((holder) => holder.token === keyId);
  if (!mine) throw new UpstreamError(`LiteLLM accepted key ${spec.alias} but does not list it`);
  await removeStrays(spec, keyId, holders, context);
  await recordKey(context, spec, keyId, mine, context.now(), context.entry);
  return {
    spec,
    value: pinned.value,
    keyId,
    secretArn: pinned.arn,
    models: spec.models,
    duration: spec.duration,
    packageName: spec.packageName,
    expires: expiryOf(mine),
    created: true,
    replacedExpired,
  };
}

/** Keys under the alias this service may act on: recorded in the ledger, or (a lab from before it) carrying our marker. */
function isOurs(holder: KeyRecord, spec: KeySpec, context: CreateContext): boolean {
  if (holder.token !== undefined && holder.token === context.entry?.keyId) return true;
  return context.adopting && isLabKey(holder, spec.guid, spec.user);
}

/**
 * Free the alias of expired keys of this lab; anything else holding it is refused, untouched.
 * Returns whether an expired key was deleted.
 */
async function clearAlias(spec: KeySpec, holders: KeyRecord[], context: CreateContext): Promise<boolean> {
  const now = context.now();
  if (holders.some((holder) => !isOurs(holder, spec, context))) {
    throw new ConflictError(
      `key alias ${spec.alias} is held by a key this service has no record of for ${owner(spec)}; it is left alone`,
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
    await context.litellm.deleteKeys(expired);
    log.info('deleted expired keys holding the alias', { alias: spec.alias, count: expired.length });
  }
  return expired.length > 0;
}

/** LiteLLM's alias check is not atomic: delete other keys of ours that slipped in under our alias. */
async function removeStrays(spec: KeySpec, keyId: string, holders: KeyRecord[], context: CreateContext) {
  const others = holders.filter((holder) => holder.token !== keyId);
  const strays = others.flatMap((holder) =>
    holder.token && isOurs(holder, spec, context) ? [holder.token] : [],
  );
  if (strays.length > 0) {
    await context.litellm.deleteKeys(strays);
    log.warn('deleted duplicate keys under the alias', { alias: spec.alias, count: strays.length });
  }
  if (others.length > strays.length) {
    log.warn('alias shared with keys this service has no record of; left untouched', {
      alias: spec.alias,
      count: others.length - strays.length,
    });
  }
}
