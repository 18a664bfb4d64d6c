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

/** Numbered aliases looked for at once, once a lab's first user's key is found. */
const PROBE_BATCH = 10;

/**
 * The keys the role made for `guid` on a target: its single-user alias and its first user's
 * (`<base>1`) at once, then, if that user's key is there, `<base>2`, `<base>3`, … ten at a time
 * until a batch finds none (the role numbered a lab's users from 1). LiteLLM lists by exact alias
 * only, so a guid the role never saw costs two calls; a lab of N users about N + 10. A lab whose
 * first user's key is missing is not found this way (the role-made sweep, which reads LiteLLM's
 * whole list, finds its expired keys).
 */
export async function findRoleMadeKeys(
  litellm: KeyApi,
  guid: string,
  userBase: string,
): Promise<KeyRecord[]> {
  const ofLab = (records: readonly KeyRecord[]) =>
    records.filter((record) => roleMadeOwner(record)?.guid === guid);
  const lookUp = async (user?: string) => ofLab(await litellm.listKeysByAlias(keyAlias(guid, user)));
  const [single, first] = await Promise.all([lookUp(), lookUp(`${userBase}1`)]);
  const found = [...single, ...first];
  for (let from = 2; first.length > 0 && from <= MAX_USERS; from += PROBE_BATCH) {
    const numbers = Array.from({ length: Math.min(PROBE_BATCH, MAX_USERS - from + 1) }, (_, i) => from + i);
    const batch = (await Promise.all(numbers.map((n) => lookUp(`${userBase}${n}`)))).flat();
    if (batch.length === 0) break;
    found.push(...batch);
  }
  return found;
}
