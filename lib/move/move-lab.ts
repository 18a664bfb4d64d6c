import { refuseForeignLab } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import { BadRequestError, ConflictError, NotFoundError, UpstreamError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf, hashKey, newKeyValue } from '../key-identity.ts';
import type { KeySpend } from '../lab/key-spend.ts';
import { knownLab } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LabRecord, LedgerLab } from '../ledger/records.ts';
import { isFault } from '../litellm/errors.ts';
import { isServed } from '../litellm/served-models.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { packageOf } from '../packages.ts';
import type { ProvisionedLab } from '../provision/provision-lab.ts';
import {
  entryTarget,
  recordedTargetName,
  refuseMovedMeanwhile,
  UnfinishedMoveError,
} from '../targets/lab-target.ts';
import type { TargetDeps } from '../targets/target-connections.ts';
import { deleteMoveLeftovers, deleteRecordedKeys } from './move-leftovers.ts';
import { movedKey, stringMetadata } from './moved-keys.ts';
import type { MoveRequest } from './request.ts';

/** A lab on its new target; `from` is where its keys were (the same target when nothing had to move). */
export interface MovedLab extends ProvisionedLab {
  readonly from: string;
  /** Old keys deleted (and verified gone) by this call. */
  readonly deletedKeys: number;
  /** What each old key had spent when its twin was made: the twin starts at none, with the rest of the budget. */
  readonly spent: readonly KeySpend[];
}

/** Only a provisioned lab moves; one still being provisioned is waited for. */
function refuseUnmovable(guid: string, lab: LabRecord | undefined): asserts lab is LabRecord {
  if (!lab || lab.state === 'destroyed' || lab.state === undefined)
    throw new NotFoundError(`lab ${guid} has no key`);
  if (lab.state === 'provisioning')
    throw new ConflictError(`lab ${guid} is still being provisioned; move it once it is`);
}

/**
 * A move already under way goes where it was going, or (not yet switched) back where it came
 * from, which cancels it; any other target waits until it is finished.
 */
function refuseOtherMove(lab: LabRecord, to: string): void {
  const recorded = recordedTargetName(lab);
  if (lab.movingTo && lab.movingTo !== to && recorded !== to)
    throw new UnfinishedMoveError(lab.guid, lab.movingTo);
  if (lab.movingFrom && recorded !== to) throw new UnfinishedMoveError(lab.guid, recorded);
}

/**
 * Move every key of a lab to another LiteLLM target, under the lab's lease, all or nothing: the
 * new keys are made first (same aliases, new values pinned in Secrets Manager before the target
 * sees them, same models, budget, metadata and expiry), then the lab's stored values switch to
 * them and the ledger records the lab on its new target, and only then are the old keys deleted
 * and verified gone. Until that switch the lab works as before on its old target; after it, on
 * the new one. A failure anywhere leaves what a retry (or a destroy) finishes.
 */
export async function moveLab(request: MoveRequest, deps: LabOperationDeps): Promise<MovedLab> {
  const { guid } = request;
  const first = knownLab(deps.known);
  refuseUnmovable(guid, first);
  refuseOtherMove(first, deps.target.name);
  const leased = await deps.ledger.lease(guid, deps.leaseOwner, deps.deadline);
  try {
    return await moveLeased(request, leased, deps);
  } catch (error) {
    await deps.ledger.abandon(guid, deps.leaseOwner);
    throw error;
  }
}

async function moveLeased(
  request: MoveRequest,
  ledger: LedgerLab,
  deps: LabOperationDeps,
): Promise<MovedLab> {
  const { guid } = request;
  const lab = knownLab(ledger);
  refuseForeignLab(deps.lifecycle.caller, guid, lab);
  refuseUnmovable(guid, lab);
  const to = deps.target.name;
  refuseOtherMove(lab, to);
  const from = lab.movingFrom ?? recordedTargetName(lab);
  if (from === to) {
    refuseMovedMeanwhile(lab, deps.target);
    if (lab.movingTo) await cancelMove(lab, ledger.keys, deps);
    else await deps.ledger.release(guid, deps.leaseOwner);
    const keys = await currentKeys(lab, (await deps.ledger.read(guid)).keys, deps);
    return { guid, target: deps.target, from, keys, created: false, deletedKeys: 0, spent: [] };
  }
  const old = await deps.targets.connect(deps.targets.recorded(from));
  const oldEntries = ledger.keys.filter((entry) => entryTarget(entry) === from);
  let spent: KeySpend[] = [];
  if (recordedTargetName(lab) !== to) {
    if (oldEntries.length === 0) throw new NotFoundError(`lab ${guid} has no key`);
    // Everything that can refuse the move is asked before it is recorded as begun.
    const olds = await movableKeys(oldEntries, old, deps);
    await deps.ledger.startMove(guid, deps.leaseOwner, to);
    await makeAndSwitch(lab, ledger.keys, olds, old, deps);
    await deps.ledger.commitMove(guid, deps.leaseOwner, to, from);
    log.info('lab moved; deleting its old keys', { guid, from, to, keys: oldEntries.length });
    spent = olds.map(({ entry, record }) => ({
      alias: entry.alias,
      keyId: entry.keyId,
      spend: record.spend ?? 0,
      ...(record.total_spend === undefined ? {} : { totalSpend: record.total_spend }),
    }));
  }
  const deletedKeys = (
    await deleteRecordedKeys(
      oldEntries,
      old,
      deps.ledger,
      `lab ${guid} is on LiteLLM target ${to} now; retry the move to finish`,
    )
  ).length;
  await eachLimited(oldEntries, deps.concurrency, (entry) =>
    deps.keyStore.delete(deps.keyStore.movingNameOf(entry.alias, to)),
  );
  // The move is over before its answer is read: a key that cannot be read now is the lab's to
  // provision again, not a move stuck for good.
  await deps.ledger.release(guid, deps.leaseOwner, {
    state: 'active',
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    moveOver: true,
  });
  const movedEntries = (await deps.ledger.read(guid)).keys.filter((entry) => entryTarget(entry) === to);
  const keys = await currentKeys(lab, movedEntries, deps);
  return { guid, target: deps.target, from, keys, created: true, deletedKeys, spent };
}

/**
 * A move not yet switched, asked back to where the lab is: its new keys and staged values go,
 * and the lab stays as it was. Once a stored value has switched, only going forward is safe.
 */
async function cancelMove(lab: LabRecord, entries: readonly KeyEntry[], deps: LabOperationDeps) {
  const switched = entries.some(
    (entry) =>
      entryTarget(entry) === deps.target.name && entry.secretName !== deps.keyStore.nameOf(entry.alias),
  );
  if (switched && lab.movingTo) throw new UnfinishedMoveError(lab.guid, lab.movingTo);
  await deleteMoveLeftovers(lab, entries, deps);
  await deps.ledger.release(lab.guid, deps.leaseOwner, {
    state: 'active',
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    moveOver: true,
  });
  log.info('move cancelled; the lab stays where it was', { guid: lab.guid, target: deps.target.name });
}

/**
 * The old keys as their target holds them, once no sweep is deleting them: each must be there,
 * and the new target must serve their models. A refusal here comes before anything is written.
 */
async function movableKeys(oldEntries: readonly KeyEntry[], old: TargetDeps, deps: LabOperationDeps) {
  const settled = await Promise.all(
    oldEntries.map((entry) => deps.claims.awaitSweep(entry, deps.deadline.sooner(2000))),
  );
  const records = await old.litellm.getKeysInfo(oldEntries.map((entry) => entry.keyId));
  const olds = oldEntries.flatMap((entry, index) => {
    const record = records.get(entry.keyId);
    return record && settled[index] ? [{ entry, record }] : [];
  });
  const missing = oldEntries.filter((entry, index) => !records.has(entry.keyId) || !settled[index]);
  if (missing.length > 0)
    throw new UpstreamError(
      `LiteLLM target ${old.target.name} no longer holds ${missing.map((entry) => entry.alias).join(', ')}; ` +
        'nothing was moved: provision the lab again, or destroy it',
    );
  const served = await deps.litellm.listModels();
  const unserved = [
    ...new Set(olds.flatMap(({ record }) => record.models.filter((model) => !isServed(model, served)))),
  ];
  if (unserved.length > 0)
    throw new BadRequestError(
      `LiteLLM target ${deps.target.name} does not serve ${unserved.join(', ')}; nothing was moved`,
      [{ field: 'target', message: `does not serve model(s) ${unserved.join(', ')}` }],
    );
  return olds;
}

/**
 * Make each old key's twin on the new target, then point the lab's stored values at the twins.
 * Nothing here touches the old keys, so until the ledger commits the move the lab works as before.
 */
async function makeAndSwitch(
  lab: LabRecord,
  recorded: readonly KeyEntry[],
  olds: readonly { readonly entry: KeyEntry; readonly record: KeyRecord }[],
  old: TargetDeps,
  deps: LabOperationDeps,
) {
  const twins = await eachLimited(
    olds,
    deps.target.maxConnections,
    ({ entry, record }) => makeTwin(lab, entry, record, recorded, deps),
    { stopAfterFailure: true },
  );
  // The switch: each stored value becomes the twin's (one request token per old key, so a retry
  // lands the same value). The old key's entry lets go of the name first: closing or sweeping the
  // old key must never delete the value that now belongs to its twin.
  await eachLimited(twins, deps.concurrency, async ({ entry, value, old: oldEntry }) => {
    const name = deps.keyStore.nameOf(entry.alias);
    await deps.ledger.putKey({
      ...oldEntry,
      secretName: deps.keyStore.movedOutNameOf(entry.alias, old.target.name),
    });
    await deps.keyStore.replace(name, value, `move:${oldEntry.keyId}`);
    await deps.ledger.putKey({ ...entry, secretName: name });
  });
}

interface Twin {
  readonly entry: KeyEntry;
  readonly value: string;
  /** The old key's entry it replaces. */
  readonly old: KeyEntry;
}

/** One key made on the new target with a value pinned first; a retry finds the same value and key. */
async function makeTwin(
  lab: LabRecord,
  oldEntry: KeyEntry,
  record: KeyRecord,
  recorded: readonly KeyEntry[],
  deps: LabOperationDeps,
): Promise<Twin> {
  const to = deps.target.name;
  const stagingName = deps.keyStore.movingNameOf(oldEntry.alias, to);
  const pinned = await deps.keyStore.pin(stagingName, newKeyValue(), {
    guid: oldEntry.guid,
    'key-alias': oldEntry.alias,
    'moving-to': to,
  });
  const keyId = hashKey(pinned.value);
  const twin = (expires: Date | undefined): Twin => ({
    entry: {
      guid: oldEntry.guid,
      target: to,
      alias: oldEntry.alias,
      ...(oldEntry.user ? { user: oldEntry.user } : {}),
      keyId,
      secretName: stagingName,
      package: oldEntry.package,
      ...(expires ? { expiresAt: expires.toISOString() } : {}),
      // An expiry already warned about is not warned about again on the new target.
      ...(oldEntry.warnedExpiry ? { warnedExpiry: oldEntry.warnedExpiry } : {}),
      createdAt: deps.now().toISOString(),
    },
    value: pinned.value,
    old: oldEntry,
  });
  const made = recorded.find((entry) => entry.keyId === keyId && entryTarget(entry) === to);
  if (made) return twin(made.expiresAt ? new Date(made.expiresAt) : undefined);
  const pkg = packageOf(deps.config.packages, lab.package ?? oldEntry.package);
  const expires = expiryOf(record);
  const seconds = expires ? Math.max(1, Math.ceil((expires.getTime() - deps.now().getTime()) / 1000)) : 0;
  const request = {
    key: pinned.value,
    key_alias: oldEntry.alias,
    models: record.models,
    duration: expires ? `${seconds}s` : (lab.duration ?? '30d'),
    user_id: record.user_id ?? lab.userId ?? `${oldEntry.guid}@${deps.config.labUserDomain}`,
    metadata: stringMetadata(record),
    // Spend stays with the old proxy: the twin gets what is left of the budget.
    max_budget:
      record.max_budget === null || record.max_budget === undefined
        ? null
        : Math.max(0, record.max_budget - (record.spend ?? 0)),
    ...(pkg?.tpm_limit === undefined ? {} : { tpm_limit: pkg.tpm_limit }),
    ...(pkg?.rpm_limit === undefined ? {} : { rpm_limit: pkg.rpm_limit }),
    key_type: 'llm_api',
    allowed_routes: ['llm_api_routes'],
  } as const;
  try {
    await deps.litellm.generateKey(request);
  } catch (error) {
    if (!isFault(error, 'duplicate-alias')) throw error;
  }
  // Listed by alias either way: the answer to an earlier attempt may have been lost, and anything else holding the alias is refused.
  const holders = await deps.litellm.listKeysByAlias(oldEntry.alias);
  const mine = holders.find((holder) => holder.token === keyId);
  if (!mine)
    throw new ConflictError(
      `key alias ${oldEntry.alias} is held on LiteLLM target ${to} by a key this service has no record of; ` +
        `nothing was switched: move the lab back to ${recordedTargetName(lab)} to cancel, or destroy it`,
    );
  const created = twin(expiryOf(mine));
  await deps.ledger.putKey(created.entry);
  return created;
}

/** The lab's keys on its target now, with their stored values: what the answer shows. */
async function currentKeys(lab: LabRecord, entries: readonly KeyEntry[], deps: LabOperationDeps) {
  const order = (entry: KeyEntry) => lab.users?.indexOf(entry.user ?? '') ?? 0;
  const own = entries
    .filter((entry) => entryTarget(entry) === deps.target.name)
    .sort((a, b) => order(a) - order(b));
  const [records, stored] = await Promise.all([
    deps.litellm.getKeysInfo(own.map((entry) => entry.keyId)),
    eachLimited(own, deps.concurrency, (entry) => deps.keyStore.read(deps.keyStore.nameOf(entry.alias))),
  ]);
  return own.map((entry, index) => {
    const record = records.get(entry.keyId);
    const value = stored[index];
    if (!record || value?.state !== 'present' || hashKey(value.value) !== entry.keyId)
      throw new UpstreamError(
        `lab ${entry.guid}'s key ${entry.alias} is not live on LiteLLM target ${deps.target.name} with its stored value; provision the lab again`,
      );
    return movedKey(entry, record, value, lab, deps);
  });
}
