import { refuseForeignLab } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { UpstreamError } from '../errors.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeySpend } from '../lab/key-spend.ts';
import {
  type LabAlias,
  type LabSummary,
  labKeysOf,
  lookUpLabAliases,
  summariseKeys,
} from '../lab/lab-keys.ts';
import { deleteLegacyUsersList, readLegacyUsers } from '../lab/legacy-users-list.ts';
import { type Lifecycle, refuseStaleEvent } from '../lab/lifecycle.ts';
import { knownLab, type LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LedgerLab } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { deleteKeysFromDatabase } from '../litellm-db/direct-delete.ts';
import { log } from '../log.ts';
import { deleteMoveLeftovers } from '../move/move-leftovers.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { entryTarget, refuseMovedMeanwhile } from '../targets/lab-target.ts';
import type { TargetConnections } from '../targets/target-connections.ts';
import type { DestroyRequest } from './request.ts';
import { type KeyCheck, type KeyToVerify, verifyGone } from './verify-gone.ts';

export interface DestroyDeps {
  readonly litellm: LiteLlmClient;
  /** The lab's LiteLLM target. */
  readonly target: LiteLlmTarget;
  /** The others, for the keys an unfinished move left there. */
  readonly targets: TargetConnections;
  readonly ledger: LabLedger;
  readonly keyStore: KeyStore;
  readonly concurrency: number;
  readonly config: Pick<Config, 'databaseCaFile'>;
  readonly lifecycle: Lifecycle;
  readonly leaseOwner: string;
  /** LiteLLM's database, from the lab target's master-key secret; needed only for direct deletion. */
  readonly databaseUrl?: string;
  readonly deadline: Deadline;
  /** The lab as the ledger held it before this call began. */
  readonly known: LedgerLab;
}

export interface DestroyedLab {
  readonly guid: string;
  /** The LiteLLM target the lab was on. */
  readonly target: string;
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
  /** Keys with the lab's marker that this service has no record of; reported, left alone. */
  readonly unrecorded: number;
  readonly spend: readonly KeySpend[];
  /** Lifetime spend where LiteLLM reports it, else this period's, summed over the keys. */
  readonly totalSpend: number;
  /** The deleted keys as result events and metrics tell of them. */
  readonly summary: LabSummary;
}

/**
 * Delete every key of a lab (each user's, in a multi-user lab) and prove it, under the lab's
 * lease: ask LiteLLM once per alias, read what each key spent, delete in one call, check each
 * key, fall back to LiteLLM's database where allowed, and only then drop the stored values and
 * leave a tombstone in the ledger. Anything short of proof is an error, never a success: a retry
 * finds the stored values and the ledger's keys still there.
 */
export async function destroyLab(request: DestroyRequest, deps: DestroyDeps): Promise<DestroyedLab> {
  const { guid } = request;
  const first = knownLab(deps.known);
  refuseForeignLab(deps.lifecycle.caller, guid, first);
  refuseStaleEvent('destroy', deps.lifecycle, first);
  const leased = await deps.ledger.lease(guid, deps.leaseOwner, deps.deadline);
  try {
    return await destroyLeased(request, leased, deps);
  } catch (error) {
    await deps.ledger.abandon(guid, deps.leaseOwner);
    throw error;
  }
}

async function destroyLeased(request: DestroyRequest, ledger: LedgerLab, deps: DestroyDeps) {
  const { guid } = request;
  const { litellm, target } = deps;
  const lab = knownLab(ledger);
  refuseForeignLab(deps.lifecycle.caller, guid, lab);
  refuseStaleEvent('destroy', deps.lifecycle, lab);
  refuseMovedMeanwhile(lab, target);
  const recorded = ledger.keys.filter((entry) => entryTarget(entry) === target.name);
  const legacy = lab === undefined ? await readLegacyUsers(deps.keyStore, guid) : undefined;
  const aliases = await lookUpLabAliases(
    { guid, users: lab?.users ?? legacy?.users, recorded, adopting: lab === undefined },
    litellm,
    deps.keyStore,
    target.maxConnections,
  );
  const keys = labKeysOf(aliases);
  const spend = keys.map(({ alias, keyId, record }) => ({
    alias,
    keyId,
    spend: record.spend ?? 0,
    ...(record.total_spend === undefined ? {} : { totalSpend: record.total_spend }),
  }));
  if (keys.length > 0) await litellm.deleteKeys(keys.map((key) => key.keyId));

  const toVerify = keysToVerify(aliases, recorded);
  let checks = await verifyGone(toVerify, litellm, target.maxConnections);
  let databaseDeleted = 0;
  const survivors = checks.filter((check) => !check.gone);
  if (survivors.length > 0 && request.databaseDelete) {
    if (!deps.databaseUrl) {
      throw survivorsError(survivors, 'direct database deletion needs database_url in the master-key secret');
    }
    databaseDeleted = await deleteFromDatabase(guid, survivors, { ...deps, databaseUrl: deps.databaseUrl });
    const again = toVerify.filter((key) => survivors.some((survivor) => survivor.keyId === key.keyId));
    const rechecked = await verifyGone(again, litellm, target.maxConnections);
    checks = checks.map((check) => rechecked.find((next) => next.keyId === check.keyId) ?? check);
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

  const stored = aliases.filter((alias) => alias.stored);
  const deletedSecrets = await eachLimited(stored, deps.concurrency, (alias) =>
    deps.keyStore.delete(alias.secretName),
  );
  const unrecorded = aliases.flatMap((alias) => alias.unrecorded);
  if (unrecorded.length > 0) {
    log.warn('keys with this lab’s marker that this service has no record of; left alone', {
      guid,
      aliases: [...new Set(unrecorded.map((record) => record.key_alias))],
      key_ids: unrecorded.map((record) => record.token),
    });
  }
  // Then what an unfinished move left on its other target: the lab's own keys never wait for it.
  const leftovers = await deleteMoveLeftovers(lab, ledger.keys, deps);
  const spent = [...spend, ...leftovers];
  const totalSpend = spent.reduce((sum, key) => sum + (key.totalSpend ?? key.spend), 0);
  // Last: until every key and stored value is gone, a retry needs the ledger to find them.
  await deps.ledger.deleteKeys(ledger.keys);
  await deps.ledger.release(guid, deps.leaseOwner, {
    state: 'destroyed',
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    destroyedAt: deps.lifecycle.occurredAt.toISOString(),
    destroyedKeys: keys.length + leftovers.length,
    totalSpend,
    moveOver: true,
  });
  if (legacy) await deleteLegacyUsersList(deps.keyStore, legacy);
  return {
    guid,
    target: target.name,
    aliases: aliases.map((alias) => alias.alias),
    wasMissing: keys.length + leftovers.length === 0,
    deletedKeys: keys.length + leftovers.length,
    databaseDeleted,
    checks,
    storedKeysDeleted: deletedSecrets.filter(Boolean).length,
    untouched: aliases.reduce((sum, alias) => sum + alias.foreign.length + alias.unrecorded.length, 0),
    unrecorded: unrecorded.length,
    spend: spent,
    totalSpend,
    summary: summariseKeys(
      keys,
      stored.flatMap((alias) => (alias.stored ? [alias.stored.arn] : [])),
    ),
  };
}

/** Every key of the lab LiteLLM listed, each stored value whose key was not listed, and each recorded key not listed. */
function keysToVerify(aliases: readonly LabAlias[], recorded: readonly KeyEntry[]): KeyToVerify[] {
  const keys: KeyToVerify[] = labKeysOf(aliases).map(({ alias, keyId, value }) => ({
    alias,
    keyId,
    ...(value ? { value } : {}),
  }));
  const add = (key: KeyToVerify) => {
    if (!keys.some((known) => known.keyId === key.keyId)) keys.push(key);
  };
  for (const { alias, stored } of aliases) {
    if (stored) add({ alias, keyId: stored.keyId, value: stored.value });
  }
  for (const entry of recorded) add({ alias: entry.alias, keyId: entry.keyId });
  return keys;
}

async function deleteFromDatabase(
  guid: string,
  survivors: readonly KeyCheck[],
  deps: DestroyDeps & { readonly databaseUrl: string },
): Promise<number> {
  const deleted = await deleteKeysFromDatabase(deps.databaseUrl, {
    guid,
    keyIds: survivors.map((key) => key.keyId),
    deadline: deps.deadline,
    ...(deps.config.databaseCaFile ? { caFile: deps.config.databaseCaFile } : {}),
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
