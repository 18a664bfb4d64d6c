import { checkLiveLabsCap, checkProvisionLimits } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import { addDuration, parseDuration } from '../duration.ts';
import { BadRequestError, Problem } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { intendKey, openKey } from '../lab/key-values.ts';
import { isLive, refuseStaleEvent } from '../lab/lifecycle.ts';
import { refuseForeignGuid } from '../lab/ownership.ts';
import { mergeRechecks, rechecksFor } from '../lab/retired-keys.ts';
import { keysOnTarget, type Lab, type LabKey } from '../ledger/lab-record.ts';
import { type HeldLab, underLease } from '../ledger/lease.ts';
import { countLiveLabs } from '../ledger/live-lab-count.ts';
import { unsupportedRelease } from '../litellm/errors.ts';
import { OLDEST_SUPPORTED } from '../litellm/release.ts';
import { unservedModels } from '../litellm/served-models.ts';
import { refuseRoleMadeLab } from '../role-made/take-over.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { forHolder } from '../targets/held-connections.ts';
import { refuseMovedMeanwhile, refuseUnfinishedMove } from '../targets/lab-target.ts';
import { differencesFrom, refuseDifferentLab } from './differences.ts';
import { type KeySpec, keySpecFor } from './key-spec.ts';
import { type AliasLookup, generateIntended } from './make-key.ts';
import type { ProvisionRequest } from './request.ts';

/** A lab's key as provisioning leaves it (or finds it): live in LiteLLM and in the ledger. */
export interface ProvisionedKey {
  readonly spec: KeySpec;
  readonly value: string;
  readonly keyId: string;
  readonly models: readonly string[];
  readonly duration: string;
  readonly packageName: string;
  readonly expires: Date | undefined;
  /** This call made the key in LiteLLM (201); false when the lab already had it. */
  readonly created: boolean;
  /** An expired key of this lab held the alias and was deleted to make room. */
  readonly replacedExpired: boolean;
  /** LiteLLM refused the alias as taken, and looking up its holder found this (see make-key.ts). */
  readonly aliasLookup?: AliasLookup;
}

export interface ProvisionedLab {
  readonly guid: string;
  /** The LiteLLM proxy the keys are on. */
  readonly target: LiteLlmTarget;
  readonly keys: readonly ProvisionedKey[];
  /** True when this call created at least one key (HTTP 201), false for a pure replay (200). */
  readonly created: boolean;
}

function expiryOf(duration: string, from: Date): string | undefined {
  const parsed = parseDuration(duration);
  return parsed ? addDuration(from, parsed).toISOString() : undefined;
}

/** Every user the lab will have once this request is applied; undefined for a single-user lab. */
function usersAfter(request: ProvisionRequest, lab: Lab): readonly string[] | undefined {
  if (!request.users) return undefined;
  return [...new Set([...((isLive(lab) && lab.users) || []), ...request.users])];
}

function specsOf(request: ProvisionRequest, lab: Lab, deps: LabOperationDeps): KeySpec[] {
  const client = isLive(lab) && lab.client ? lab.client : deps.lifecycle.caller.client;
  return (usersAfter(request, lab) ?? [undefined]).map((user) => keySpecFor(request, deps, client, user));
}

const unexpired = (key: LabKey | undefined, now: Date): key is LabKey =>
  key?.status === 'live' && key.expiresAt !== undefined && key.expiresAt > now.toISOString();

function provisionedKey(
  spec: KeySpec,
  key: LabKey,
  value: string,
  created: boolean,
  how: { replaced: boolean; lookup: AliasLookup | undefined } = { replaced: false, lookup: undefined },
): ProvisionedKey {
  return {
    spec,
    value,
    keyId: key.keyId,
    models: spec.models,
    duration: spec.duration,
    packageName: spec.packageName,
    expires: key.expiresAt ? new Date(key.expiresAt) : undefined,
    created,
    replacedExpired: how.replaced,
    ...(how.lookup ? { aliasLookup: how.lookup } : {}),
  };
}

/**
 * The same keys again, straight from the ledger: the caller's own active lab on this target with a
 * live, unexpired key for every user the request names. No lease, no write, no LiteLLM call; one
 * KMS call per key. Undefined when anything is missing or another request must decide.
 */
async function replay(request: ProvisionRequest, lab: Lab, deps: LabOperationDeps) {
  if (lab.state !== 'active' || lab.client !== deps.lifecycle.caller.client || lab.movingTo) return undefined;
  if (lab.target !== deps.target.name || differencesFrom(request, lab).length > 0) return undefined;
  const now = deps.now();
  const specs = specsOf(request, lab, deps);
  if (request.users && specs.length !== (lab.users?.length ?? 0)) return undefined;
  const found = specs.map((spec) => keysOnTarget(lab).find((key) => key.alias === spec.alias));
  if (!found.every((key) => unexpired(key, now))) return undefined;
  const keys = await eachLimited(specs, deps.concurrency, async (spec, index = specs.indexOf(spec)) => {
    const key = found[index] as LabKey;
    return provisionedKey(spec, key, await openKey(deps.vault, lab.guid, key), false);
  });
  return { guid: lab.guid, target: deps.target, keys, created: false };
}

/** The request's checks against the lab as leased: run once, before anything is written. */
function refuseInvalid(request: ProvisionRequest, lab: Lab, deps: LabOperationDeps): void {
  const { caller } = deps.lifecycle;
  refuseForeignGuid(caller, lab);
  refuseStaleEvent('provision', deps.lifecycle, lab);
  refuseUnfinishedMove(lab);
  refuseMovedMeanwhile(lab, deps.target);
  refuseRoleMadeLab(lab);
  if (isLive(lab)) refuseDifferentLab(request, lab);
  checkProvisionLimits(caller, { ...request, users: usersAfter(request, lab)?.length ?? 1 });
}

/** Fails with 400 naming every model the proxy does not serve. */
async function checkModels(request: ProvisionRequest, deps: LabOperationDeps): Promise<void> {
  const { limits } = deps.lifecycle.caller;
  // A model the proxy leaves out of /v1/models is granted by a package, or by a limit naming it.
  const mayUseUnlisted = (model: string) =>
    !request.customModels || (Array.isArray(limits.models) && limits.models.includes(model));
  const missing = await unservedModels(deps.litellm, request.models, mayUseUnlisted);
  if (missing.length === 0) return;
  const field = request.customModels ? 'models' : 'package';
  const owner = request.customModels ? '' : ` (package ${request.packageName})`;
  const unlisted = request.customModels
    ? ' (one it leaves out of /v1/models is granted only by a package, or by a client limit naming it)'
    : '';
  throw new BadRequestError(
    `model(s) ${missing.join(', ')}${owner} not served by the LiteLLM proxy${unlisted}`,
    [{ field, message: `unknown model(s): ${missing.join(', ')}` }],
  );
}

/** The lab starting anew (first provision, or after a destroy or the sweep took every key). */
function newGeneration(request: ProvisionRequest, lab: Lab, deps: LabOperationDeps): Lab {
  const users = usersAfter(request, lab);
  const now = deps.now().toISOString();
  const started = deps.lifecycle.occurredAt.toISOString();
  return {
    guid: lab.guid,
    version: lab.version,
    generation: lab.generation + 1,
    state: 'provisioning',
    client: deps.lifecycle.caller.client,
    package: request.packageName,
    models: request.models,
    maxBudget: request.maxBudget,
    duration: request.duration,
    ...(users ? { users } : { userId: request.userId }),
    target: deps.target.name,
    startedAt: started,
    createdAt: now,
    lastEventAt: started,
    keys: [],
    rechecks: mergeRechecks(lab.rechecks, rechecksFor(lab.keys, deps.reconcileGraceMs, deps.now())),
  };
}

/**
 * Make every key of a lab (one, or one per user) or fail as a whole, under the lab's lease: of
 * concurrent provisions exactly one makes each key (201) and the others get the same values (200).
 * Each new key's value is sealed and recorded as intended before LiteLLM sees it, so a retry after
 * any failure makes the same key, and a destroy knows every key that may exist.
 */
export async function provisionLab(
  request: ProvisionRequest,
  deps: LabOperationDeps,
): Promise<ProvisionedLab> {
  const release = await deps.litellm.release();
  if (release.verdict === 'older') throw unsupportedRelease(release.version ?? 'unknown', OLDEST_SUPPORTED);
  const replayed = await replay(request, deps.known, deps);
  if (replayed) return replayed;
  // A new lab (not one the client holds live) is refused at the client's cap before anything is written.
  if (!isLive(deps.known)) {
    const { caller } = deps.lifecycle;
    await checkLiveLabsCap(caller, () => countLiveLabs(deps.config.labsTable, caller.client));
  }
  return underLease(
    request.guid,
    deps.lease,
    (held) => provisionHeld(request, held, forHolder(held, deps)),
    (lab) => replay(request, lab, deps),
  );
}

async function provisionHeld(request: ProvisionRequest, held: HeldLab, deps: LabOperationDeps) {
  refuseInvalid(request, held.lab, deps);
  const now = deps.now();
  const base = isLive(held.lab) ? held.lab : newGeneration(request, held.lab, deps);
  const specs = specsOf(request, base, deps);
  const entries = (spec: KeySpec) => keysOnTarget(base).filter((key) => key.alias === spec.alias);
  // An alias's key as this request sees it: one announced earlier first, then a live one.
  const current = (spec: KeySpec) =>
    entries(spec).find((key) => key.status === 'intended') ??
    entries(spec).find((key) => key.status === 'live');
  const kept = specs.filter((spec) => unexpired(current(spec), now));
  const toMake = specs.filter((spec) => !kept.includes(spec));
  if (toMake.length > 0) await checkModels(request, deps);
  // Keys an earlier attempt announced keep their value: its /key/generate may have landed.
  const intents = await eachLimited(toMake, deps.concurrency, async (spec) => {
    const earlier = current(spec);
    if (earlier?.status === 'intended')
      return { spec, entry: earlier, value: await openKey(deps.vault, base.guid, earlier) };
    const { value, entry } = await intendKey(
      deps.vault,
      base.guid,
      {
        alias: spec.alias,
        user: spec.user,
        target: deps.target.name,
        package: spec.packageName,
        expiresAt: expiryOf(spec.duration, now),
      },
      now,
    );
    return { spec, entry, value };
  });
  const replaced = toMake.flatMap((spec) => entries(spec).filter((key) => key.status !== 'intended'));
  const before = held.lab;
  const intendedIds = new Set(intents.map((intent) => intent.entry.keyId));
  const replacedIds = new Set(replaced.map((key) => key.keyId));
  await held.record(() => ({
    ...base,
    users: usersAfter(request, base),
    keys: [
      ...base.keys
        .filter((key) => !intendedIds.has(key.keyId))
        .map((key): LabKey => (replacedIds.has(key.keyId) ? { ...key, status: 'deleting' } : key)),
      ...intents.map((intent) => intent.entry),
    ],
  }));
  const made = new Map<string, LabKey>();
  const lookups = new Map<string, AliasLookup>();
  // Replaced keys leave the ledger only once /key/delete has answered; until then they stay announced.
  let deleted: ReadonlySet<string> = new Set();
  try {
    // Expired (or deleted) keys make room first: LiteLLM keeps aliases unique.
    if (replaced.length > 0) await deps.litellm.deleteKeys(replaced.map((key) => key.keyId));
    deleted = replacedIds;
    await eachLimited(
      intents,
      deps.target.maxConnections,
      async ({ spec, entry, value }) => {
        const outcome = await generateIntended(spec, entry, value, held.lab, deps);
        made.set(entry.keyId, outcome.key);
        if (outcome.lookup) lookups.set(entry.keyId, outcome.lookup);
      },
      { stopAfterFailure: true },
    );
  } catch (error) {
    // A refusal before any key was made leaves the lab as it was (its intents looked for again, in
    // case one lands after all); otherwise what was made is recorded and the rest stays announced,
    // so a retry (or a destroy) finds it.
    const refused =
      error instanceof Problem && error.status < 500 && made.size === 0 && replaced.length === 0;
    const intended = intents.map((intent) => intent.entry);
    await held
      .release((lab) =>
        refused
          ? {
              ...before,
              version: lab.version,
              rechecks: mergeRechecks(lab.rechecks, rechecksFor(intended, deps.reconcileGraceMs, now)),
            }
          : finished(lab, made, deleted, deps),
      )
      .catch(() => undefined);
    throw error;
  }
  const lab = await held.release((current) => finished(current, made, replacedIds, deps));
  const keys = await eachLimited(specs, deps.concurrency, async (spec) => {
    const intent = intents.find((candidate) => candidate.spec === spec);
    const key = (intent && made.get(intent.entry.keyId)) ?? (current(spec) as LabKey);
    const value = intent?.value ?? (await openKey(deps.vault, lab.guid, key));
    return provisionedKey(spec, key, value, intent !== undefined, {
      replaced: replaced.some((old) => old.alias === spec.alias),
      lookup: intent && lookups.get(intent.entry.keyId),
    });
  });
  return { guid: lab.guid, target: deps.target, keys, created: intents.length > 0 };
}

/** The lab once the keys are made: made keys live, replaced ones gone (looked for again while a late apply may bring them back). */
function finished(
  lab: Lab,
  made: ReadonlyMap<string, LabKey>,
  replacedIds: ReadonlySet<string>,
  deps: LabOperationDeps,
): Lab {
  const gone = lab.keys.filter((key) => replacedIds.has(key.keyId));
  const keys = lab.keys.filter((key) => !replacedIds.has(key.keyId)).map((key) => made.get(key.keyId) ?? key);
  const complete = keys.every((key) => key.status === 'live');
  return {
    ...lab,
    state: complete ? 'active' : lab.state === 'active' ? 'active' : 'provisioning',
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    keys,
    rechecks: mergeRechecks(lab.rechecks, rechecksFor(gone, deps.reconcileGraceMs, deps.now())),
  };
}
