import { eachLimited } from '../concurrency.ts';
import { keyAlias, keySecretName, ownerOf } from '../key-identity.ts';
import { deleteStoredKey, type StoredKeyEntry } from '../key-store.ts';
import { ROSTER_KEEP_MS, readRoster, rosterGuid } from '../lab/roster.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';

/** A stored key must have stood unchanged this long before it counts as an orphan. */
export const ORPHAN_MIN_AGE_MS = 86_400_000;

export interface OrphanTally {
  found: number;
  deleted: number;
  failed: number;
}

export interface OrphanOptions {
  readonly litellm: LiteLlmClient;
  readonly keySecretPrefix: string;
  /** Aliases the listing found a key of ours under. */
  readonly ourAliases: ReadonlySet<string>;
  /** Aliases whose key this run deleted (their stored keys were dealt with then). */
  readonly goneAliases: ReadonlySet<string>;
  readonly now: Date;
  readonly dryRun: boolean;
  readonly concurrency: number;
  readonly shouldStop: () => boolean;
}

/**
 * Stored keys whose key is gone from LiteLLM (deleted elsewhere, a provision that ended in a
 * conflict, a secret a crash left behind) and that have not changed for a day; and the users lists
 * of multi-user labs none of whose keys is left. Each candidate is looked at once more right before
 * deletion, so a lab provisioned since the listing keeps what it uses.
 */
export async function deleteOrphanSecrets(
  stored: readonly StoredKeyEntry[],
  options: OrphanOptions,
): Promise<OrphanTally> {
  const tally: OrphanTally = { found: 0, deleted: 0, failed: 0 };
  const prefix = options.keySecretPrefix;
  const cutoff = options.now.getTime() - ORPHAN_MIN_AGE_MS;
  const old = stored.filter((entry) => entry.changedAt.getTime() < cutoff);
  const keySecretsLeft = stored
    .map((entry) => entry.name)
    .filter(
      (name) => rosterGuid(prefix, name) === undefined && !options.goneAliases.has(name.slice(prefix.length)),
    )
    .sort();
  const candidates = old.flatMap((entry): Candidate[] => {
    const guid = rosterGuid(prefix, entry.name);
    if (guid !== undefined) {
      return hasKeySecretLeft(keySecretName(prefix, keyAlias(guid)), keySecretsLeft)
        ? []
        : [{ kind: 'roster', entry, guid }];
    }
    const alias = entry.name.slice(prefix.length);
    return options.ourAliases.has(alias) || options.goneAliases.has(alias)
      ? []
      : [{ kind: 'key', entry, alias }];
  });
  await eachLimited(candidates, options.concurrency, async (candidate) => {
    if (options.shouldStop()) return;
    try {
      if (!(await isOrphan(candidate, options))) return;
      tally.found++;
      if (options.dryRun) return;
      if (await deleteStoredKey(candidate.entry.name)) tally.deleted++;
    } catch (error) {
      tally.failed++;
      log.warn('orphan stored key not deleted', {
        err: error,
        secret: candidate.entry.name.slice(prefix.length),
      });
    }
  });
  return tally;
}

type Candidate =
  | { readonly kind: 'key'; readonly entry: StoredKeyEntry; readonly alias: string }
  | { readonly kind: 'roster'; readonly entry: StoredKeyEntry; readonly guid: string };

/** The first index of `sorted` whose name is not below `name`. */
function lowerBound(sorted: readonly string[], name: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) < name) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Whether a stored key of the lab is left: the lab-wide one, or a name under `<lab-wide>-`. That
 * may take in another lab's (`a-b` for lab `a`), which only keeps a list longer. `sorted` holds the
 * listed key secrets not deleted this run, so each lab costs a binary search, not a scan.
 */
function hasKeySecretLeft(labWide: string, sorted: readonly string[]): boolean {
  const under = `${labWide}-`;
  return (
    sorted[lowerBound(sorted, labWide)] === labWide || !!sorted[lowerBound(sorted, under)]?.startsWith(under)
  );
}

async function isOrphan(candidate: Candidate, options: OrphanOptions): Promise<boolean> {
  if (candidate.kind === 'key') {
    const holders = await options.litellm.listKeysByAlias(candidate.alias);
    return !holders.some((record) => ownerOf(record) !== undefined);
  }
  const roster = await readRoster(options.keySecretPrefix, candidate.guid);
  // Rewritten since the listing, or by a provision within the day: in use.
  if (!roster?.writtenAt || options.now.getTime() - roster.writtenAt.getTime() < ROSTER_KEEP_MS) return false;
  return roster.users.every((user) => {
    const alias = keyAlias(candidate.guid, user);
    return !options.ourAliases.has(alias) || options.goneAliases.has(alias);
  });
}
