import { keyAlias } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';

/**
 * Before the lab ledger, a multi-user lab's users were kept in a secret beside their keys,
 * `<prefix>virtkey-<guid>/users` (`{"guid", "users"}`). The ledger holds them now; a lab from
 * before is read once, when it is first touched, and its list is deleted once the ledger has it.
 */
export interface LegacyUsersList {
  readonly name: string;
  readonly users: readonly string[];
}

const SUFFIX = '/users';

export function legacyUsersListName(store: KeyStore, guid: string): string {
  return `${store.nameOf(keyAlias(guid))}${SUFFIX}`;
}

/** The lab a secret name is the users list of, or undefined for any other secret. */
export function legacyUsersListGuid(store: KeyStore, name: string): string | undefined {
  const head = store.nameOf(keyAlias(''));
  if (!name.startsWith(head) || !name.endsWith(SUFFIX)) return undefined;
  const guid = name.slice(head.length, -SUFFIX.length);
  return guid && legacyUsersListName(store, guid) === name ? guid : undefined;
}

function parse(name: string, text: string): readonly string[] {
  try {
    const users = (JSON.parse(text) as { users?: unknown }).users;
    if (Array.isArray(users) && users.every((user) => typeof user === 'string')) return users;
  } catch {
    // reported below
  }
  // Guessing would lose keys: a destroy that skipped a user would report success with keys left.
  throw new Error(`the users list ${name} is not the JSON this service wrote`);
}

/** A lab's users list from before the ledger; undefined when it has none. */
export async function readLegacyUsers(store: KeyStore, guid: string): Promise<LegacyUsersList | undefined> {
  const name = legacyUsersListName(store, guid);
  const stored = await store.read(name);
  return stored.state === 'present' ? { name, users: parse(name, stored.value) } : undefined;
}

export async function deleteLegacyUsersList(store: KeyStore, list: LegacyUsersList): Promise<void> {
  await store.delete(list.name);
}
