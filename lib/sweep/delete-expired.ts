import { eachLimited } from '../concurrency.ts';
import { keySecretName } from '../key-identity.ts';
import { deleteStoredKeyHolding } from '../key-store.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import type { SweptKey } from './census.ts';

/** Hashes per /key/delete call: one list page's worth. */
export const DELETE_BATCH_SIZE = 100;

export interface DeletionTally {
  deleted: number;
  /** Gone before we asked (a destroy in between): LiteLLM's 404 "No keys found". */
  alreadyGone: number;
  failed: number;
  /** Not tried for lack of time; the next run picks them up. */
  pending: number;
  storedKeysDeleted: number;
  /** Deleted keys per package. */
  readonly deletedByPackage: Map<string, number>;
  /** Aliases whose key is gone, so their stored keys were dealt with here. */
  readonly goneAliases: Set<string>;
}

export interface DeletionOptions {
  readonly litellm: LiteLlmClient;
  readonly keySecretPrefix: string;
  readonly concurrency: number;
  /** Checked before each batch. */
  readonly shouldStop: () => boolean;
  /** Secret names known to exist; when given, keys without one cost no Secrets Manager call. */
  readonly storedNames?: ReadonlySet<string>;
}

/**
 * Delete `keys` by hash, a batch per call, a few batches at a time; then the stored key of each
 * key that is gone. A batch LiteLLM will not delete (after the transport's retries) is counted and
 * logged, and the sweep goes on.
 */
export async function deleteExpiredKeys(
  keys: readonly SweptKey[],
  options: DeletionOptions,
): Promise<DeletionTally> {
  const tally: DeletionTally = {
    deleted: 0,
    alreadyGone: 0,
    failed: 0,
    pending: 0,
    storedKeysDeleted: 0,
    deletedByPackage: new Map(),
    goneAliases: new Set(),
  };
  const batches: SweptKey[][] = [];
  for (let start = 0; start < keys.length; start += DELETE_BATCH_SIZE) {
    batches.push(keys.slice(start, start + DELETE_BATCH_SIZE));
  }
  await eachLimited(batches, options.concurrency, async (batch) => {
    if (options.shouldStop()) {
      tally.pending += batch.length;
      return;
    }
    try {
      const existed = await options.litellm.deleteKeys(batch.map((key) => key.keyId));
      if (existed) {
        tally.deleted += batch.length;
        for (const key of batch) {
          tally.deletedByPackage.set(key.package, (tally.deletedByPackage.get(key.package) ?? 0) + 1);
        }
      } else tally.alreadyGone += batch.length;
    } catch (error) {
      tally.failed += batch.length;
      log.warn('sweep batch not deleted', { err: error, keys: batch.length, first_alias: batch[0]?.alias });
      return;
    }
    for (const key of batch) tally.goneAliases.add(key.alias);
    await eachLimited(batch, options.concurrency, async (key) => {
      const name = keySecretName(options.keySecretPrefix, key.alias);
      if (options.storedNames && !options.storedNames.has(name)) return;
      try {
        if (await deleteStoredKeyHolding(name, key.keyId)) tally.storedKeysDeleted++;
      } catch (error) {
        // The key is gone; a stored key left behind is an orphan the next sweep removes.
        log.warn('stored key not deleted', { err: error, alias: key.alias });
      }
    });
  });
  return tally;
}
