import { eachLimited } from '../concurrency.ts';
import { UpstreamError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { type KeySpend, labSpend, spentBy } from '../lab/key-spend.ts';
import { openKey } from '../lab/key-values.ts';
import { type Lifecycle, refuseStaleEvent } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { mergeRechecks, rechecksFor } from '../lab/retired-keys.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { type HeldLab, underLease } from '../ledger/lease.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { deleteKeysFromDatabase } from '../litellm-db/direct-delete.ts';
import { log } from '../log.ts';
import { forHolder } from '../targets/held-connections.ts';
import { refuseMovedMeanwhile } from '../targets/lab-target.ts';
import type { DestroyRequest } from './request.ts';
import { type KeyCheck, verifyGone } from './verify-gone.ts';

export interface DestroyDeps extends LabOperationDeps {
  /** LiteLLM's database, from the lab target's master-key secret; needed only for direct deletion. */
  readonly databaseUrl?: string;
}

/** What result events and metrics tell of the deleted keys; never a key value. */
export interface DestroySummary {
  readonly models: readonly string[];
  /** The latest expiry among the keys. */
  readonly expires: Date | undefined;
  /** Keys per package. */
  readonly packages: ReadonlyMap<string, number>;
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
  /** Keys applied late (after an earlier destroy or replacement) found and deleted. */
  readonly lateKeysDeleted: number;
  readonly spend: readonly KeySpend[];
  /** Each key's larger of lifetime and period spend, summed. */
  readonly totalSpend: number;
  /** Some key's lifetime spend may lack LiteLLM's backfill (see lab/key-spend.ts). */
  readonly spendMayLackBackfill: boolean;
  readonly summary: DestroySummary;
}

function summarise(lab: Lab, held: readonly { key: LabKey; record: KeyRecord }[]): DestroySummary {
  const expiries = held.flatMap(({ key }) => (key.expiresAt ? [key.expiresAt] : [])).sort();
  return {
    models:
      held.length > 0 ? [...new Set(held.flatMap(({ record }) => record.models))] : [...(lab.models ?? [])],
    expires: expiries.length > 0 ? new Date(expiries.at(-1) as string) : undefined,
    packages: held.reduce(
      (counts, { key }) => counts.set(key.package, (counts.get(key.package) ?? 0) + 1),
      new Map<string, number>(),
    ),
  };
}

/**
 * Delete every key of a lab (each user's, and those an unfinished move made on another target)
 * and prove it, under the lab's lease, working from what the ledger recorded: read what each key
 * spent (so nothing is written before LiteLLM has shown it takes our master key), announce the
 * deletion, delete them in one call per target, check each key gone
 * (with the key itself where it can be used), fall back to LiteLLM's database where allowed, and
 * only then leave a tombstone. Anything short of proof is an error, never a success: the keys stay
 * recorded as being deleted, and a retry finishes. Keys LiteLLM may still apply late are looked
 * for again by the next destroy and the sweep.
 */
export function destroyLab(request: DestroyRequest, deps: DestroyDeps): Promise<DestroyedLab> {
  return underLease(request.guid, deps.lease, (held) => destroyHeld(request, held, forHolder(held, deps)));
}

/** What a destroy leaves of the lab: a tombstone with its destroy time, keys and spend. */
function tombstone(destroyedKeys: number, totalSpend: number, at: string): Partial<Lab> {
  return {
    state: 'destroyed',
    movingTo: undefined,
    lastEventAt: at,
    destroyedAt: at,
    destroyedKeys,
    totalSpend,
    extending: undefined,
  };
}

function refuseInvalid(lab: Lab, lifecycle: Lifecycle, deps: DestroyDeps): void {
  refuseForeignLab(lifecycle.caller, lab);
  refuseStaleEvent('destroy', lifecycle, lab);
  refuseMovedMeanwhile(lab, deps.target);
}

async function destroyHeld(request: DestroyRequest, held: HeldLab, deps: DestroyDeps): Promise<DestroyedLab> {
  refuseInvalid(held.lab, deps.lifecycle, deps);
  const keys = held.lab.keys;
  const own = keys.filter((key) => key.target === deps.target.name);
  const others = keys.filter((key) => key.target !== deps.target.name);
  const records = own.length > 0 ? await deps.litellm.getKeysInfo(own.map((key) => key.keyId)) : new Map();
  if (keys.length > 0)
    await held.record((lab) => ({ ...lab, keys: lab.keys.map((key) => ({ ...key, status: 'deleting' })) }));
  const ownOutcome = await deleteOwnKeys(held, own, records, request, deps);
  // Then what an unfinished move left on its other target: the lab's own keys never wait for it.
  const leftovers = await deleteOnOtherTargets(others, deps);
  const lateKeysDeleted = await deleteLateKeys(held.lab, deps);
  const heldKeys = [...ownOutcome.held, ...leftovers];
  const spend = heldKeys.map(({ key, record }) => spentBy(key, record));
  const { total: totalSpend, mayLackBackfill } = labSpend(spend);
  const at = deps.lifecycle.occurredAt.toISOString();
  const now = deps.now();
  const lab = held.lab;
  // A destroyed lab destroyed again keeps its tombstone as it was: only its rechecks move on.
  const again = lab.state === 'destroyed';
  await held.release((current) => ({
    ...current,
    ...(again ? {} : tombstone(heldKeys.length, totalSpend, at)),
    keys: [],
    rechecks: mergeRechecks(
      current.rechecks.filter((recheck) => recheck.until > now.toISOString()),
      rechecksFor(keys, deps.reconcileGraceMs, now),
    ),
  }));
  return {
    guid: lab.guid,
    target: deps.target.name,
    aliases: [...new Set(own.map((key) => key.alias))],
    wasMissing: heldKeys.length === 0,
    deletedKeys: heldKeys.length,
    databaseDeleted: ownOutcome.databaseDeleted,
    checks: ownOutcome.checks,
    lateKeysDeleted,
    spend,
    totalSpend,
    spendMayLackBackfill: mayLackBackfill,
    summary: summarise(lab, heldKeys),
  };
}

async function deleteOwnKeys(
  holder: HeldLab,
  keys: readonly LabKey[],
  records: ReadonlyMap<string, KeyRecord>,
  request: DestroyRequest,
  deps: DestroyDeps,
) {
  const { litellm, target } = deps;
  const { guid } = holder.lab;
  if (keys.length === 0) return { held: [], checks: [], databaseDeleted: 0 };
  const held = keys.flatMap((key) => {
    const record = records.get(key.keyId);
    return record ? [{ key, record }] : [];
  });
  if (held.length > 0) await litellm.deleteKeys(held.map(({ key }) => key.keyId));
  // Every recorded key is checked, held or not: one announced but unanswered may have landed since.
  // A value that cannot be opened (KMS refusing or down, a broken seal) does not stop the destroy:
  // its key is checked by hash instead.
  const toVerify = await eachLimited(keys, deps.concurrency, async (key) => {
    // A role-made key's value was never kept: it is checked by hash, as such keys always were.
    if (key.sealed === undefined) return { alias: key.alias, keyId: key.keyId };
    const value = await openKey(deps.vault, guid, key).catch((error: unknown) => {
      log.warn('key value not opened; its deletion is checked by hash', {
        guid,
        alias: key.alias,
        err: error,
      });
      return undefined;
    });
    return { alias: key.alias, keyId: key.keyId, ...(value ? { value } : {}) };
  });
  let checks = await verifyGone(toVerify, litellm, target.maxConnections);
  let databaseDeleted = 0;
  const survivors = checks.filter((check) => !check.gone);
  if (survivors.length > 0 && request.databaseDelete) {
    if (!deps.databaseUrl) {
      throw survivorsError(survivors, 'direct database deletion needs database_url in the master-key secret');
    }
    holder.ensureHeld();
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
  return { held, checks, databaseDeleted };
}

/** Keys recorded on a target other than the lab's own: read, deleted, read back (one call each per target). */
async function deleteOnOtherTargets(keys: readonly LabKey[], deps: DestroyDeps) {
  const deleted: { key: LabKey; record: KeyRecord }[] = [];
  for (const name of new Set(keys.map((key) => key.target))) {
    const { litellm } = await deps.targets.connect(deps.targets.recorded(name));
    const group = keys.filter((key) => key.target === name);
    const records = await litellm.getKeysInfo(group.map((key) => key.keyId));
    if (records.size === 0) continue;
    await litellm.deleteKeys([...records.keys()]);
    const still = await litellm.getKeysInfo([...records.keys()]);
    if (still.size > 0)
      throw new UpstreamError(
        `LiteLLM target ${name} still holds ${group
          .filter((key) => still.has(key.keyId))
          .map((key) => key.alias)
          .join(', ')} after /key/delete; a retry of the destroy finishes the job`,
      );
    deleted.push(
      ...group.flatMap((key) =>
        records.has(key.keyId) ? [{ key, record: records.get(key.keyId) as KeyRecord }] : [],
      ),
    );
  }
  return deleted;
}

/**
 * Keys of this lab that LiteLLM applied after an earlier destroy or replacement (the ledger looks
 * for them again until their grace ends): deleted whatever their expiry. One read per target.
 */
async function deleteLateKeys(lab: Lab, deps: DestroyDeps): Promise<number> {
  let deleted = 0;
  for (const name of new Set(lab.rechecks.map((recheck) => recheck.target))) {
    if (!deps.targets.names.includes(name)) continue;
    const { litellm } = await deps.targets.connect(deps.targets.recorded(name));
    const ids = lab.rechecks.filter((recheck) => recheck.target === name).map((recheck) => recheck.keyId);
    const late = await litellm.getKeysInfo(ids);
    if (late.size === 0) continue;
    await litellm.deleteKeys([...late.keys()]);
    deleted += late.size;
    log.warn('deleted keys of this lab that LiteLLM applied late', {
      guid: lab.guid,
      target: name,
      key_ids: [...late.keys()],
    });
  }
  return deleted;
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
    `LiteLLM still holds ${named} after /key/delete; ${reason}. The lab stays recorded, so a retry can finish the job`,
  );
}
