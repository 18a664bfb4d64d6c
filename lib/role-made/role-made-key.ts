import { keyAlias } from '../key-identity.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { guidSchema } from '../schemas.ts';

/** What the Ansible role wrote in `created_by` on every key it made for RHDP. */
export const ROLE_CREATED_BY = 'babylon';

/** A taken-over lab's package in the ledger: the role's keys name models and a duration, no package. */
export const ROLE_MADE_PACKAGE = 'role-made';

/** The most users a lab may have (interface: 1-200), so the most numbered aliases looked for. */
const MAX_USERS = 200;

/**
 * The lab (and user) a key belongs to when the Ansible role made it: its metadata's `guid` and
 * `created_by: babylon`, no marker of ours, and an alias exactly the role's for that guid and user
 * (`virtkey-<guid>`, or `virtkey-<guid>-<user>` with `user` in its metadata). A key whose metadata
 * claims one guid under another's alias, or that another tool made, is nobody's here.
 */
export function roleMadeOwner(record: KeyRecord): { guid: string; user?: string } | undefined {
  const metadata = record.metadata ?? {};
  if (metadata.managed_by !== undefined || metadata.created_by !== ROLE_CREATED_BY) return undefined;
  const { guid, user } = metadata;
  if (typeof guid !== 'string' || !guidSchema.safeParse(guid).success) return undefined;
  if (user !== undefined && user !== null && typeof user !== 'string') return undefined;
  const owner = typeof user === 'string' && user ? { guid, user } : { guid };
  return record.key_alias === keyAlias(guid, owner.user) ? owner : undefined;
}

/**
 * The keys the role made for `guid` on a target: its single-user alias, then `<base>1`, `<base>2`,
 * … until one is missing (the role numbered a lab's users from 1). LiteLLM lists by exact alias
 * only, so this costs one call per alias found plus the one that finds none (two for a guid the
 * role never saw).
 */
export async function findRoleMadeKeys(
  litellm: KeyApi,
  guid: string,
  userBase: string,
): Promise<KeyRecord[]> {
  const ofLab = (records: readonly KeyRecord[]) =>
    records.filter((record) => roleMadeOwner(record)?.guid === guid);
  const found = ofLab(await litellm.listKeysByAlias(keyAlias(guid)));
  for (let n = 1; n <= MAX_USERS; n++) {
    const user = ofLab(await litellm.listKeysByAlias(keyAlias(guid, `${userBase}${n}`)));
    if (user.length === 0) break;
    found.push(...user);
  }
  return found;
}
