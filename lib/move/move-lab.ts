import { eachLimited } from '../concurrency.ts';
import { BadRequestError, ConflictError, NotFoundError, Problem, UpstreamError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf } from '../key-identity.ts';
import { type KeySpend, spentBy } from '../lab/key-spend.ts';
import { intendKey, openKey } from '../lab/key-values.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { mergeRechecks, rechecksFor } from '../lab/retired-keys.ts';
import { keysOnTarget, type Lab, type LabKey } from '../ledger/lab-record.ts';
import { type HeldLab, underLease } from '../ledger/lease.ts';
import { unservedModels } from '../litellm/served-models.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import { packageOf } from '../packages.ts';
import { generateConfirmed, markLive } from '../provision/make-key.ts';
import type { ProvisionedKey, ProvisionedLab } from '../provision/provision-lab.ts';
import { forHolder } from '../targets/held-connections.ts';
import { recordedTargetName, UnfinishedMoveError } from '../targets/lab-target.ts';
import type { TargetDeps } from '../targets/target-connections.ts';
import { movedKey, stringMetadata } from './moved-keys.ts';
import type { MoveRequest } from './request.ts';

/** A lab on its new target; `from` is where its keys were. */
export interface MovedLab extends ProvisionedLab {
  readonly from: string;
  /** Old keys deleted (and verified gone) by this call. */
  readonly deletedKeys: number;
  /** What each old key had spent when its twin was made: the twin starts at none, with the rest of the budget. */
  readonly spent: readonly KeySpend[];
  /** False when the lab was already there: nothing changed, nothing is announced. */
  readonly changed: boolean;
}

/** Only a provisioned lab moves; one still being provisioned is waited for. */
function refuseUnmovable(lab: Lab): void {
  if (lab.state !== 'active' && lab.state !== 'provisioning')
    throw new NotFoundError(`lab ${lab.guid} has no key`);
  if (lab.state === 'provisioning')
    throw new Problem(
      409,
      'lab-provisioning',
      'The lab is still being provisioned',
      `lab ${lab.guid} is still being provisioned; move it once its provision has finished (retry the provision if it failed)`,
    );
}

/**
 * Move every key of a lab to another LiteLLM target, under the lab's lease, all or nothing: the
 * new keys are announced (sealed for the new target) and made first, with the same aliases,
 * models, metadata and expiry; then one write switches the lab to its new target and announces
 * the old keys' deletion, and only then are they deleted and verified gone. Until that switch the
 * lab works as before on its old target; after it, on the new one. A retry finishes from any step;
 * a move back before the switch cancels it.
 */
export function moveLab(request: MoveRequest, deps: LabOperationDeps): Promise<MovedLab> {
  return underLease(request.guid, deps.lease, (held) => moveHeld(held, forHolder(held, deps)));
}

async function moveHeld(held: HeldLab, deps: LabOperationDeps): Promise<MovedLab> {
  const lab = held.lab;
  refuseForeignLab(deps.lifecycle.caller, lab);
  refuseUnmovable(lab);
  const to = deps.target.name;
  const from = recordedTargetName(lab);
  if (lab.movingTo && lab.movingTo !== to && from !== to)
    throw new UnfinishedMoveError(lab.guid, lab.movingTo);
  // Keys a switched move has yet to delete on the target it left: that move is finished first.
  const leftovers = lab.movingTo ? [] : lab.keys.filter((key) => key.target !== from);
  if (leftovers.length > 0 && from !== to) throw new UnfinishedMoveError(lab.guid, from);
  if (from === to) {
    if (lab.movingTo) return cancelMove(held, deps);
    if (leftovers.length > 0) return finishMove(held, leftovers, deps);
    return answerWithKeys(lab, deps, { from: lab.movedFrom ?? to, spent: [], changed: false });
  }
  const old = await deps.targets.connect(deps.targets.recorded(from));
  const olds = await movableKeys(lab, old, deps);
  const now = deps.now();
  // Twins an earlier attempt announced keep their value: their /key/generate may have landed.
  const twins = await eachLimited(olds, deps.concurrency, async ({ key }) => {
    const earlier = keysOnTarget(lab, to).find((twin) => twin.alias === key.alias);
    if (earlier) return { entry: earlier, value: await openKey(deps.vault, lab.guid, earlier) };
    return intendKey(
      deps.vault,
      lab.guid,
      { alias: key.alias, user: key.user, target: to, package: key.package, expiresAt: key.expiresAt },
      now,
    );
  });
  await held.record((current) => ({
    ...current,
    movingTo: to,
    keys: [...current.keys.filter((key) => key.target !== to), ...twins.map((twin) => twin.entry)],
  }));
  const pairs = olds.map((old, index) => ({ old, twin: twins[index] as { entry: LabKey; value: string } }));
  const live = new Map<string, LabKey>();
  const made = await eachLimited(
    pairs,
    deps.target.maxConnections,
    async ({ old, twin }) => {
      const key = await makeTwin(lab, old, twin, deps);
      live.set(key.keyId, key);
      return key;
    },
    { stopAfterFailure: true },
  ).catch(async (error: unknown) => {
    // The twins made are recorded live, so a retry makes only the others.
    await held
      .release((current) => ({ ...current, keys: current.keys.map((key) => live.get(key.keyId) ?? key) }))
      .catch(() => undefined);
    throw error;
  });
  // The switch: the lab is on its new target, its old keys announced for deletion.
  await held.record((current) => ({
    ...current,
    target: to,
    movingTo: undefined,
    movedFrom: from,
    keys: current.keys.map((key) =>
      key.target === to
        ? (made.find((twin) => twin.keyId === key.keyId) ?? key)
        : { ...key, status: 'deleting' },
    ),
  }));
  log.info('lab moved; deleting its old keys', { guid: lab.guid, from, to, keys: olds.length });
  const deletedKeys = (
    await deleteOldKeys(
      olds.map(({ key }) => key),
      old,
      lab.guid,
      to,
    )
  ).size;
  await held.release((current) => ({
    ...current,
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    keys: current.keys.filter((key) => key.target === to),
    rechecks: mergeRechecks(
      current.rechecks,
      rechecksFor(
        olds.map(({ key }) => key),
        deps.reconcileGraceMs,
        deps.now(),
      ),
    ),
  }));
  const keys = made.map((key, index) =>
    movedKey(key, twins[index]?.value ?? '', olds[index]?.record as KeyRecord, lab, deps),
  );
  const spent = olds.map(({ key, record }) => spentBy(key, record));
  return {
    guid: lab.guid,
    target: deps.target,
    from,
    keys,
    created: true,
    deletedKeys,
    spent,
    changed: true,
  };
}

/**
 * The old keys as their target holds them: each must be there (a key of the lab that is not moves
 * nowhere), and the new target must serve their models. A refusal here comes before anything is written.
 */
async function movableKeys(lab: Lab, old: TargetDeps, deps: LabOperationDeps) {
  const keys = keysOnTarget(lab).filter((key) => key.status === 'live');
  if (keys.length === 0) throw new NotFoundError(`lab ${lab.guid} has no key`);
  const records = await old.litellm.getKeysInfo(keys.map((key) => key.keyId));
  const missing = keys.filter((key) => !records.has(key.keyId));
  if (missing.length > 0)
    throw new UpstreamError(
      `LiteLLM target ${old.target.name} no longer holds ${missing.map((key) => key.alias).join(', ')}; ` +
        'nothing was moved: provision the lab again, or destroy it',
    );
  const olds = keys.map((key) => ({ key, record: records.get(key.keyId) as KeyRecord }));
  const unserved = await unservedModels(
    deps.litellm,
    olds.flatMap(({ record }) => record.models),
  );
  if (unserved.length > 0)
    throw new BadRequestError(
      `LiteLLM target ${deps.target.name} does not serve ${unserved.join(', ')}; nothing was moved`,
      [{ field: 'target', message: `does not serve model(s) ${unserved.join(', ')}` }],
    );
  return olds;
}

/** One old key's twin on the new target, with the value announced for it; a retry finds the same key. */
async function makeTwin(
  lab: Lab,
  { key: oldKey, record }: { readonly key: LabKey; readonly record: KeyRecord },
  twin: { readonly entry: LabKey; readonly value: string },
  deps: LabOperationDeps,
): Promise<LabKey> {
  if (twin.entry.status === 'live') return twin.entry;
  const pkg = packageOf(deps.config.packages, lab.package ?? oldKey.package);
  const expires = expiryOf(record);
  const seconds = expires ? Math.max(1, Math.ceil((expires.getTime() - deps.now().getTime()) / 1000)) : 0;
  const request = {
    key: twin.value,
    key_alias: oldKey.alias,
    models: record.models,
    duration: expires ? `${seconds}s` : (lab.duration ?? '30d'),
    user_id: record.user_id ?? lab.userId ?? `${lab.guid}@${deps.config.labUserDomain}`,
    metadata: stringMetadata(record),
    // Spend stays with the old proxy: the twin gets what is left of the budget.
    max_budget:
      record.max_budget === null || record.max_budget === undefined
        ? null
        : Math.max(0, record.max_budget - Math.max(record.spend ?? 0, record.total_spend ?? 0)),
    ...(pkg?.tpm_limit === undefined ? {} : { tpm_limit: pkg.tpm_limit }),
    ...(pkg?.rpm_limit === undefined ? {} : { rpm_limit: pkg.rpm_limit }),
    key_type: 'llm_api',
    allowed_routes: ['llm_api_routes'],
  } as const;
  // The alias is taken on the new target: by this twin (an earlier answer lost), or by anything else.
  const made = await generateConfirmed(request, deps.litellm, deps.target.name, async (holders) => {
    const mine = holders.find((holder) => holder.token === twin.entry.keyId);
    if (mine) return { ours: mine.expires };
    throw new ConflictError(
      `key alias ${oldKey.alias} is held on LiteLLM target ${deps.target.name} by a key that is not this lab's; ` +
        `nothing was switched: move the lab back to ${recordedTargetName(lab)} to cancel, or destroy it`,
    );
  });
  const live = await markLive(twin.entry, made.expires, deps.litellm);
  return oldKey.warnedExpiry ? { ...live, warnedExpiry: oldKey.warnedExpiry } : live;
}

/** Delete the old keys, read them back (one call each); anything still there is an error a retry finishes. What was held is returned. */
async function deleteOldKeys(
  keys: readonly LabKey[],
  old: TargetDeps,
  guid: string,
  to: string,
): Promise<Map<string, KeyRecord>> {
  const ids = keys.map((key) => key.keyId);
  const held = await old.litellm.getKeysInfo(ids);
  if (held.size > 0) await old.litellm.deleteKeys([...held.keys()]);
  const still = held.size > 0 ? await old.litellm.getKeysInfo([...held.keys()]) : new Map();
  if (still.size > 0)
    throw new UpstreamError(
      `LiteLLM target ${old.target.name} still holds ${keys
        .filter((key) => still.has(key.keyId))
        .map((key) => key.alias)
        .join(', ')} after /key/delete; lab ${guid} is on LiteLLM target ${to} now; retry the move to finish`,
    );
  return held;
}

/**
 * A move whose switch was made but whose old keys were not all deleted, asked again: the old keys
 * go, and the move is over (and announced: its first attempt failed before it could be).
 */
async function finishMove(
  held: HeldLab,
  leftovers: readonly LabKey[],
  deps: LabOperationDeps,
): Promise<MovedLab> {
  const lab = held.lab;
  const to = deps.target.name;
  const spent: KeySpend[] = [];
  for (const name of new Set(leftovers.map((key) => key.target))) {
    const old = await deps.targets.connect(deps.targets.recorded(name));
    const group = leftovers.filter((key) => key.target === name);
    const records = await deleteOldKeys(group, old, lab.guid, to);
    for (const key of group) {
      const record = records.get(key.keyId);
      if (record) spent.push(spentBy(key, record));
    }
  }
  const released = await held.release((current) => ({
    ...current,
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    keys: current.keys.filter((key) => key.target === to),
    rechecks: mergeRechecks(current.rechecks, rechecksFor(leftovers, deps.reconcileGraceMs, deps.now())),
  }));
  log.info('move finished; its old keys are deleted', {
    guid: lab.guid,
    from: lab.movedFrom,
    to,
    keys: spent.length,
  });
  return answerWithKeys(released, deps, { from: lab.movedFrom ?? to, spent, changed: true });
}

/** A move not yet switched, asked back to where the lab is: its new keys go, and the lab stays as it was. */
async function cancelMove(held: HeldLab, deps: LabOperationDeps): Promise<MovedLab> {
  const lab = held.lab;
  const to = lab.movingTo as string;
  const twins = keysOnTarget(lab, to);
  await held.record((current) => ({
    ...current,
    keys: current.keys.map((key) => (key.target === to ? { ...key, status: 'deleting' } : key)),
  }));
  const other = await deps.targets.connect(deps.targets.recorded(to));
  await deleteOldKeys(twins, other, lab.guid, recordedTargetName(lab));
  const released = await held.release((current) => ({
    ...current,
    movingTo: undefined,
    keys: current.keys.filter((key) => key.target !== to),
    rechecks: mergeRechecks(current.rechecks, rechecksFor(twins, deps.reconcileGraceMs, deps.now())),
  }));
  log.info('move cancelled; the lab stays where it was', { guid: lab.guid, target: deps.target.name });
  return answerWithKeys(released, deps, { from: to, spent: [], changed: true });
}

/** The answer of a move that made no key: the lab's keys as they are on its target, and what the call changed. */
async function answerWithKeys(
  lab: Lab,
  deps: LabOperationDeps,
  outcome: { readonly from: string; readonly spent: readonly KeySpend[]; readonly changed: boolean },
): Promise<MovedLab> {
  const keys = await currentKeys(lab, deps, deps);
  return {
    guid: lab.guid,
    target: deps.target,
    keys,
    created: false,
    deletedKeys: outcome.spent.length,
    ...outcome,
  };
}

/** The lab's keys on its target now, with their values: what the answer shows. */
async function currentKeys(lab: Lab, on: TargetDeps, deps: LabOperationDeps): Promise<ProvisionedKey[]> {
  const order = (key: LabKey) => lab.users?.indexOf(key.user ?? '') ?? 0;
  const own = keysOnTarget(lab, on.target.name).sort((a, b) => order(a) - order(b));
  const records = await on.litellm.getKeysInfo(own.map((key) => key.keyId));
  return eachLimited(own, deps.concurrency, async (key) => {
    const record = records.get(key.keyId);
    if (!record)
      throw new UpstreamError(
        `lab ${lab.guid}'s key ${key.alias} is not live on LiteLLM target ${on.target.name}; provision the lab again`,
      );
    return movedKey(key, await openKey(deps.vault, lab.guid, key), record, lab, deps);
  });
}
