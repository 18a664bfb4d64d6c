import { eachLimited } from '../concurrency.ts';
import { ownerOf } from '../key-identity.ts';
import { deleteStoredKey, type StoredKeyEntry } from '../key-store.ts';
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
  /** Aliases the listing found a key of ours under, and aliases whose key this run deleted. */
  readonly accountedFor: ReadonlySet<string>;
  readonly now: Date;
  readonly dryRun: boolean;
  readonly concurrency: number;
  readonly shouldStop: () => boolean;
}

/**
 * Stored keys whose key is gone from LiteLLM (deleted elsewhere, a provision that ended in a
 * conflict, a secret a crash left behind) and that have not changed for a day. Each candidate's
 * alias is looked up once more right before deletion, so a lab provisioned since the listing keeps it.
 */
export async function deleteOrphanSecrets(
  stored: readonly StoredKeyEntry[],
  options: OrphanOptions,
): Promise<OrphanTally> {
  const tally: OrphanTally = { found: 0, deleted: 0, failed: 0 };
  const cutoff = options.now.getTime() - ORPHAN_MIN_AGE_MS;
  const candidates = stored.filter((entry) => {
    const alias = entry.name.slice(options.keySecretPrefix.length);
    return !options.accountedFor.has(alias) && entry.changedAt.getTime() < cutoff;
  });
  await eachLimited(candidates, options.concurrency, async (entry) => {
    if (options.shouldStop()) return;
    const alias = entry.name.slice(options.keySecretPrefix.length);
    try {
      const holders = await options.litellm.listKeysByAlias(alias);
      if (holders.some((record) => ownerOf(record) !== undefined)) return;
      tally.found++;
      if (options.dryRun) return;
      if (await deleteStoredKey(entry.name)) tally.deleted++;
    } catch (error) {
      tally.failed++;
      log.warn('orphan stored key not deleted', { err: error, alias });
    }
  });
  return tally;
}
