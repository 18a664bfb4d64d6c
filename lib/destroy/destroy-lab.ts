import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { UpstreamError } from '../errors.ts';
import { deleteStoredKey } from '../key-store.ts';
import { findLabKeys, type LabKeys, type LabSummary, labKeysOf, summariseLab } from '../lab/lab-keys.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { deleteKeysFromDatabase } from '../litellm-db/direct-delete.ts';
import { log } from '../log.ts';
import type { DestroyRequest } from './request.ts';
import { type KeyCheck, type KeyToVerify, verifyGone } from './verify-gone.ts';

export interface DestroyDeps {
  readonly litellm: LiteLlmClient;
  readonly config: Pick<Config, 'keySecretPrefix' | 'litellm'>;
  /** LiteLLM's database, from the master-key secret; needed only for direct deletion. */
  readonly databaseUrl?: string;
  /** Epoch ms by which the work must be over. */
  readonly deadline: number;
}

export interface DestroyedLab {
  readonly guid: string;
  readonly aliases: readonly string[];
  /** No key of this lab was in LiteLLM when destroy began. */
  readonly wasMissing: boolean;
  /** Keys of this lab that LiteLLM held and that are now verified gone. */
  readonly deletedKeys: number;
  /** Of those, how many had to be deleted from LiteLLM's database directly. */
  readonly databaseDeleted: number;
  readonly checks: readonly KeyCheck[];
  readonly storedKeysDeleted: number;
  /** Keys under the lab's aliases that are not this lab's; left alone. */
  readonly untouched: number;
  /** The deleted keys as result events and metrics tell of them. */
  readonly summary: LabSummary;
}

/**
 * Delete every key of a lab (each user's, in a multi-user lab) and prove it: ask LiteLLM once per
 * alias, delete in one call, check each key, fall back to LiteLLM's database where allowed, and
 * only then drop the stored values and the users list. Anything short of proof is an error, never
 * a success: a retry finds the stored values still there.
 */
export async function destroyLab(request: DestroyRequest, deps: DestroyDeps): Promise<DestroyedLab> {
  const { litellm, config } = deps;
  const lab = await findLabKeys(request.guid, litellm, config);
  const keys = labKeysOf(lab);
  if (keys.length > 0) await deleteFromLiteLlm(lab, litellm);

  const toVerify = keysToVerify(lab);
  let checks = await verifyGone(toVerify, litellm, config.litellm.maxConnections);
  let databaseDeleted = 0;
  const survivors = checks.filter((check) => !check.gone);
  if (survivors.length > 0 && request.databaseDelete) {
    if (!deps.databaseUrl) {
      throw survivorsError(survivors, 'direct database deletion needs database_url in the master-key secret');
    }
    databaseDeleted = await deleteFromDatabase(request.guid, survivors, deps.databaseUrl, deps.deadline);
    const again = toVerify.filter((key) => survivors.some((survivor) => survivor.keyId === key.keyId));
    const rechecked = await verifyGone(again, litellm, config.litellm.maxConnections);
    checks = checks.map((check) => rechecked.find((again) => again.keyId === check.keyId) ?? check);
  }
  const left = checks.filter((check) => !check.gone);
  if (left.length > 0) {
    throw survivorsError(
      left,
      request.databaseDelete
        ? 'direct database deletion did not remove it either'
        : 'direct database deletion was not used (FORCE_DB_DELETE=false or force_db_delete=false)',
    );
  }

  const stored = lab.aliases.filter((alias) => alias.stored);
  const deletedSecrets = await eachLimited(stored, config.litellm.maxConnections, (alias) =>
    deleteStoredKey(alias.secretName),
  );
  // Last: until every user's key and stored value is gone, a retry needs the list to find them.
  if (lab.roster) await deleteStoredKey(lab.roster.name);
  return {
    guid: request.guid,
    aliases: lab.aliases.map((alias) => alias.alias),
    wasMissing: keys.length === 0,
    deletedKeys: keys.length,
    databaseDeleted,
    checks,
    storedKeysDeleted: deletedSecrets.filter(Boolean).length,
    untouched: lab.aliases.reduce((sum, alias) => sum + alias.foreign.length, 0),
    summary: summariseLab(lab),
  };
}

/**
 * One `/key/delete`: by alias when only this lab's keys hold its aliases (that also catches a
 * duplicate LiteLLM's alias race slipped in since the lookup), by hash when anything else shares one.
 */
async function deleteFromLiteLlm(lab: LabKeys, litellm: LiteLlmClient): Promise<void> {
  const shared = lab.aliases.filter((alias) => alias.foreign.length > 0);
  if (shared.length > 0) {
    log.warn('alias shared with keys that are not this lab’s; deleting this lab’s keys by hash', {
      guid: lab.guid,
      aliases: shared.map((alias) => alias.alias),
      untouched: shared.reduce((sum, alias) => sum + alias.foreign.length, 0),
    });
    await litellm.deleteKeys(labKeysOf(lab).map((key) => key.keyId));
    return;
  }
  const held = lab.aliases.filter((alias) => alias.keys.length > 0).map((alias) => alias.alias);
  await litellm.deleteKeysByAlias(held);
}

/** Every key of the lab LiteLLM listed, plus each stored value whose key was not listed. */
function keysToVerify(lab: LabKeys): KeyToVerify[] {
  const keys: KeyToVerify[] = labKeysOf(lab).map(({ alias, keyId, value }) => ({
    alias,
    keyId,
    ...(value ? { value } : {}),
  }));
  for (const { alias, stored } of lab.aliases) {
    if (stored && !keys.some((key) => key.keyId === stored.keyId)) {
      keys.push({ alias, keyId: stored.keyId, value: stored.value });
    }
  }
  return keys;
}

async function deleteFromDatabase(
  guid: string,
  survivors: readonly KeyCheck[],
  databaseUrl: string,
  deadline: number,
): Promise<number> {
  const deleted = await deleteKeysFromDatabase(databaseUrl, {
    guid,
    keyIds: survivors.map((key) => key.keyId),
    deadline,
  });
  log.warn('deleted keys from LiteLLM’s database directly', {
    guid,
    aliases: [...new Set(survivors.map((key) => key.alias))],
    key_ids: deleted,
  });
  return deleted.length;
}

function survivorsError(left: readonly KeyCheck[], reason: string): UpstreamError {
  const named = left.map((key) => `${key.alias} (key id ${key.keyId})`).join(', ');
  return new UpstreamError(
    `LiteLLM still holds ${named} after /key/delete; ${reason}. The stored key is kept, so a retry can finish the job`,
  );
}
