import { UnavailableError } from '../errors.ts';
import { keyAlias, keySecretName } from '../key-identity.ts';
import { pinStoredKey, readStoredKey, replaceStoredKey } from '../key-store.ts';

/**
 * The users of a multi-user lab, kept as a secret beside their keys. LiteLLM finds keys only by
 * exact alias, so this list is what lets destroy, status, extend and the sweep reach every user's
 * key with one exact lookup each. It is written before any user's key exists and deleted only
 * after all of them are gone, so it always names every key the lab may have.
 */
export interface Roster {
  readonly name: string;
  readonly users: readonly string[];
  readonly versionId: string;
  readonly writtenAt: Date | undefined;
}

/** The sweep keeps a roster written within this long, whatever its keys' state. */
export const ROSTER_KEEP_MS = 86_400_000;
/** Provisioning rewrites an older roster, so one a provision relies on is never old enough to sweep. */
const ROSTER_REFRESH_MS = ROSTER_KEEP_MS / 2;

const SUFFIX = '/users';

/** `<prefix>virtkey-<guid>/users`: a `/` cannot occur in a key's alias, so no key secret shares it. */
export function rosterName(prefix: string, guid: string): string {
  return `${keySecretName(prefix, keyAlias(guid))}${SUFFIX}`;
}

/** The lab a secret name is the roster of, or undefined for any other secret. */
export function rosterGuid(prefix: string, name: string): string | undefined {
  const head = keySecretName(prefix, keyAlias(''));
  if (!name.startsWith(head) || !name.endsWith(SUFFIX)) return undefined;
  const guid = name.slice(head.length, -SUFFIX.length);
  return guid && rosterName(prefix, guid) === name ? guid : undefined;
}

function parseRoster(name: string, text: string): readonly string[] {
  try {
    const users = (JSON.parse(text) as { users?: unknown }).users;
    if (Array.isArray(users) && users.every((user) => typeof user === 'string')) return users;
  } catch {
    // reported below
  }
  // Guessing would lose keys: a destroy that skipped a user would report success with keys left.
  throw new Error(`the users list ${name} is not the JSON this service writes`);
}

/** The lab's roster; undefined for a single-user lab (or one never provisioned). */
export async function readRoster(prefix: string, guid: string): Promise<Roster | undefined> {
  const name = rosterName(prefix, guid);
  const stored = await readStoredKey(name);
  if (stored.state === 'absent') return undefined;
  return {
    name,
    users: parseRoster(name, stored.value),
    versionId: stored.versionId,
    writtenAt: stored.writtenAt,
  };
}

export interface RecordOptions {
  /** Runs before anything is written (the model check), so a bad request leaves nothing behind. */
  readonly beforeWrite: () => Promise<void>;
  readonly now?: () => Date;
}

/**
 * Make the roster name `users` (added to any it names already). Writes replace the version they
 * read (a request token derived from it), so of two provisions adding different users at once
 * one write fails and that caller reads again and adds its users to the winner's list.
 */
export async function recordRoster(
  prefix: string,
  guid: string,
  users: readonly string[],
  options: RecordOptions,
): Promise<void> {
  const now = options.now ?? (() => new Date());
  for (let round = 1; round <= 5; round++) {
    const current = await readRoster(prefix, guid);
    const known = new Set(current?.users);
    const missing = users.filter((user) => !known.has(user));
    const fresh =
      current?.writtenAt !== undefined && now().getTime() - current.writtenAt.getTime() < ROSTER_REFRESH_MS;
    if (current && missing.length === 0 && fresh) return;
    await options.beforeWrite();
    const value = JSON.stringify({ guid, users: [...(current?.users ?? []), ...missing] });
    const written = current
      ? await replaceStoredKey(current.name, value, current.versionId)
      : await pinStoredKey(rosterName(prefix, guid), value, { guid }, 'Users of a multi-user lab');
    if (written.won) return;
  }
  throw new UnavailableError(`the users list of lab ${guid} keeps changing; retry shortly`, 5);
}
