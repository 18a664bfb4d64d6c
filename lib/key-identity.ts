import { createHash, randomBytes } from 'node:crypto';
import { parseLiteLlmInstant } from './duration.ts';
import type { KeyRecord } from './litellm/types.ts';

/** The metadata marker on every key this service makes; only keys carrying it are ever changed. */
export const MANAGED_BY = 'litellm-virtual-keys';

/** Metadata names the service sets itself; a request may not supply them. */
export const RESERVED_METADATA = [
  'managed_by',
  'guid',
  'user',
  'package',
  'models',
  'duration',
  'owner',
  'api_client',
] as const;

export function keyAlias(guid: string, user?: string): string {
  return user ? `virtkey-${guid}-${user}` : `virtkey-${guid}`;
}

export function keySecretName(prefix: string, alias: string): string {
  return `${prefix}${alias}`;
}

/** LiteLLM's token: sha256 hex of the whole raw key, `sk-` included. */
export function hashKey(rawKey: string): string {
  return createHash('sha256').update(rawKey).digest('hex');
}

/** A new key value; 32 random bytes, so guessing one is out of the question. */
export function newKeyValue(): string {
  return `sk-${randomBytes(32).toString('base64url')}`;
}

/** Whether a LiteLLM key is this lab's (and this user's): our marker and the lab's own metadata. */
export function isLabKey(record: KeyRecord, guid: string, user?: string): boolean {
  const metadata = record.metadata ?? {};
  return (
    record.key_alias === keyAlias(guid, user) &&
    metadata.managed_by === MANAGED_BY &&
    metadata.guid === guid &&
    (metadata.user ?? undefined) === user
  );
}

/**
 * The lab (and user) a key belongs to when this service made it: our marker, and an alias that is
 * exactly the one its metadata's guid and user give. Anything else is left alone by every sweep.
 */
export function ownerOf(record: KeyRecord): { guid: string; user?: string } | undefined {
  const { guid, user } = record.metadata ?? {};
  if (typeof guid !== 'string' || !guid) return undefined;
  if (user !== undefined && user !== null && typeof user !== 'string') return undefined;
  const owner = typeof user === 'string' ? { guid, user } : { guid };
  return isLabKey(record, guid, owner.user) ? owner : undefined;
}

export function expiryOf(record: { expires: string | null }): Date | undefined {
  return record.expires ? parseLiteLlmInstant(record.expires) : undefined;
}

/** Expired as LiteLLM judges it on each request: `expires` in the past; no expiry never expires. */
export function isExpired(record: { expires: string | null }, now: Date): boolean {
  const expires = expiryOf(record);
  return expires !== undefined && expires.getTime() <= now.getTime();
}
