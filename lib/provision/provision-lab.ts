import { checkProvisionLimits, mayAdoptLegacyLabs, refuseForeignLab } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import { addDuration, parseDuration } from '../duration.ts';
import { BadRequestError, HttpError } from '../errors.ts';
import { hashKey, isExpired } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import { readLegacyUsers } from '../lab/legacy-users-list.ts';
import { isLive, type Lifecycle, refuseStaleEvent } from '../lab/lifecycle.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import { knownLab, type LabLedger, type NewGeneration } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LedgerLab } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { unsupportedRelease } from '../litellm/errors.ts';
import { OLDEST_SUPPORTED } from '../litellm/release.ts';
import { isServed } from '../litellm/served-models.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { refuseMovedMeanwhile, refuseUnfinishedMove } from '../targets/lab-target.ts';
import { refuseDifferentLab } from './differences.ts';
import { type EnsuredKey, ensureKey } from './ensure-key.ts';
import { type KeySpec, keySpecFor } from './key-spec.ts';
import type { ProvisionRequest } from './request.ts';

export interface ProvisionedLab {
  readonly guid: string;
  /** The LiteLLM proxy the keys are on. */
  readonly target: LiteLlmTarget;
  readonly keys: readonly EnsuredKey[];
  /** True when this call created at least one key (HTTP 201), false for a pure replay (200). */
  readonly created: boolean;
}

export interface ProvisionDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly keyStore: KeyStore;
  readonly concurrency: number;
  readonly config: Pick<Config, 'labUserDomain'>;
  readonly lifecycle: Lifecycle;
  /** Who holds the lab's lease while this call works (unique per invocation). */
  readonly leaseOwner: string;
  readonly deadline: Deadline;
  /** The LiteLLM proxy the lab's keys go to. */
  readonly target: LiteLlmTarget;
  /** The lab as the ledger held it before this call began. */
  readonly known: LedgerLab;
  readonly now: () => Date;
}

/** Fails with 400 naming every model the proxy does not serve; asked once per request. */
function modelCheck(litellm: LiteLlmClient, request: ProvisionRequest): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => {
    pending ??= litellm.listModels().then((served) => {
      const missing = request.models.filter((model) => !isServed(model, served));
      if (missing.length === 0) return;
      const field = request.customModels ? 'models' : 'package';
      const owner = request.customModels ? '' : ` (package ${request.packageName})`;
      throw new BadRequestError(`model(s) ${missing.join(', ')}${owner} not served by the LiteLLM proxy`, [
        { field, message: `unknown model(s): ${missing.join(', ')}` },
      ]);
    });
    return pending;
  };
}

/**
 * The request's checks against what the ledger holds: another client's live lab, a stale event, a
 * different lab, or more than the client's limits allow (users counted with those the lab has) is refused.
 */
function refuseInvalid(request: ProvisionRequest, ledger: LedgerLab, deps: ProvisionDeps): void {
  const lab = knownLab(ledger);
  const { caller } = deps.lifecycle;
  refuseForeignLab(caller, request.guid, lab, { ownedWhileLive: true });
  refuseStaleEvent('provision', deps.lifecycle, lab);
  refuseUnfinishedMove(lab);
  if (isLive(lab)) refuseDifferentLab(request, lab);
  const users = request.users ? new Set([...((isLive(lab) && lab.users) || []), ...request.users]).size : 1;
  checkProvisionLimits(caller, { ...request, users });
}

/**
 * The same keys again, when the lab is live with every key the request names and LiteLLM agrees:
 * no lease, no write. Undefined when anything is missing, expired or unknown to LiteLLM.
 */
async function replay(request: ProvisionRequest, ledger: LedgerLab, deps: ProvisionDeps) {
  const lab = knownLab(ledger);
  if (lab?.state !== 'active') return undefined;
  const specs = specsOf(request, deps);
  const entries = specs.map((spec) => ledger.keys.find((entry) => entry.alias === spec.alias));
  if (entries.some((entry) => !entry?.expiresAt || entry.expiresAt <= new Date().toISOString()))
    return undefined;
  const [stored, records] = await Promise.all([
    eachLimited(specs, deps.concurrency, (spec) => deps.keyStore.read(spec.secretName)),
    deps.litellm.getKeysInfo(entries.map((entry) => entry?.keyId ?? '')),
  ]);
  const keys: EnsuredKey[] = [];
  for (const [index, spec] of specs.entries()) {
    const value = stored[index];
    const entry = entries[index];
    if (value?.state !== 'present' || !entry || hashKey(value.value) !== entry.keyId) return undefined;
    const record = records.get(entry.keyId);
    if (!record || isExpired(record, new Date())) return undefined;
    const metadata = record.metadata ?? {};
    keys.push({
      spec,
      value: value.value,
      keyId: entry.keyId,
      secretArn: value.arn,
      models: record.models,
      duration: typeof metadata.duration === 'string' ? metadata.duration : spec.duration,
      packageName: typeof metadata.package === 'string' ? metadata.package : spec.packageName,
      expires: entry.expiresAt ? new Date(entry.expiresAt) : undefined,
      created: false,
      replacedExpired: false,
    });
  }
  return { guid: request.guid, target: deps.target, keys, created: false };
}

const isRefusal = (error: unknown) => error instanceof HttpError && error.status < 500;

/**
 * A lab the ledger has never seen with a stored value under any of its aliases (the lab-wide one
 * too: it may have been single-user) is a lab from before the ledger, whose client is unknown:
 * not there for a caller without `all-labs`.
 */
async function refuseLegacyValues(
  request: ProvisionRequest,
  users: readonly string[] | undefined,
  deps: ProvisionDeps,
) {
  const specs = users
    ? [keySpecFor(request, deps, deps.lifecycle.caller.client, undefined), ...specsOf(request, deps, users)]
    : specsOf(request, deps);
  const stored = await eachLimited(specs, deps.concurrency, (spec) => deps.keyStore.read(spec.secretName));
  if (stored.some((value) => value.state === 'present'))
    refuseForeignLab(deps.lifecycle.caller, request.guid, undefined);
}

function specsOf(request: ProvisionRequest, deps: ProvisionDeps, users = request.users): KeySpec[] {
  return (users ?? [undefined]).map((user) => keySpecFor(request, deps, deps.lifecycle.caller.client, user));
}

/**
 * Make every key of a lab (one, or one per user) or fail as a whole, under the lab's lease: of
 * concurrent provisions exactly one makes each key (201) and the others get the same values (200),
 * and no destroy or extend of the lab runs meanwhile. After a failure no further user's key is
 * started; a retry makes the keys still missing and returns the same values for those made.
 */
export async function provisionLab(request: ProvisionRequest, deps: ProvisionDeps): Promise<ProvisionedLab> {
  const release = await deps.litellm.release();
  if (release.verdict === 'older') throw unsupportedRelease(release.version ?? 'unknown', OLDEST_SUPPORTED);
  const first = deps.known;
  refuseInvalid(request, first, deps);
  const replayed = await replay(request, first, deps);
  if (replayed) return replayed;
  const lease = await deps.ledger.leaseUnlessSettled(
    request.guid,
    deps.leaseOwner,
    deps.deadline,
    async (now) => {
      refuseInvalid(request, now, deps);
      refuseMovedMeanwhile(knownLab(now), deps.target);
      return replay(request, now, deps);
    },
  );
  if ('settled' in lease) return lease.settled;
  try {
    refuseInvalid(request, lease.leased, deps);
    refuseMovedMeanwhile(knownLab(lease.leased), deps.target);
    return await provisionLeased(request, lease.leased, deps);
  } catch (error) {
    await deps.ledger.abandon(request.guid, deps.leaseOwner);
    throw error;
  }
}

async function provisionLeased(request: ProvisionRequest, ledger: LedgerLab, deps: ProvisionDeps) {
  const { guid } = request;
  const lab = knownLab(ledger);
  const checkModels = modelCheck(deps.litellm, request);
  // A lab the ledger has never seen may predate it: its users list, if any, names its keys.
  const adopting = lab === undefined;
  const mayAdopt = mayAdoptLegacyLabs(deps.lifecycle.caller);
  const legacyUsers = adopting ? await readLegacyUsers(deps.keyStore, guid) : undefined;
  if (legacyUsers && !mayAdopt) refuseForeignLab(deps.lifecycle.caller, guid, undefined);
  const known = isLive(lab) ? lab.users : legacyUsers?.users;
  const users = request.users ? [...new Set([...(known ?? []), ...request.users])] : undefined;
  // Before anything is recorded: once recorded, the lab's stored values would pass for this caller's.
  if (adopting && !mayAdopt) await refuseLegacyValues(request, users, deps);
  let generation: NewGeneration | undefined;
  if (!isLive(lab)) {
    // Nothing is written before the request is known to be good.
    await checkModels();
    const duration = parseDuration(request.duration);
    generation = {
      ...(users ? { users } : {}),
      package: request.packageName,
      models: request.models,
      maxBudget: request.maxBudget,
      duration: request.duration,
      ...(users ? {} : { userId: request.userId }),
      target: deps.target.name,
      client: deps.lifecycle.caller.client,
      startedAt: deps.lifecycle.occurredAt.toISOString(),
      expiresAt: (duration ? addDuration(new Date(), duration) : new Date()).toISOString(),
      ...(adopting ? { adopted: true } : {}),
    };
    // A multi-user lab's users are recorded before any of their keys exists, so a destroy finds
    // every key that may exist; a single-user lab's one alias is always looked at.
    if (users) await deps.ledger.startGeneration(guid, deps.leaseOwner, generation);
  } else if (users && users.length !== lab.users?.length) {
    await checkModels();
    // Recorded before any new user's key exists, so a destroy finds every key that may exist.
    await deps.ledger.setUsers(guid, deps.leaseOwner, users);
  }
  // A key the sweep is deleting is left to it: its value may be deleted any moment.
  const entries = isLive(lab)
    ? (
        await Promise.all(
          ledger.keys.map((entry) => deps.claims.awaitSweep(entry, deps.deadline.sooner(2000))),
        )
      ).filter((entry): entry is KeyEntry => entry !== undefined)
    : [];
  const keys = await eachLimited(
    specsOf(request, deps),
    deps.target.maxConnections,
    (spec) =>
      ensureKey(
        spec,
        entries.find((entry) => entry.alias === spec.alias),
        {
          litellm: deps.litellm,
          ledger: deps.ledger,
          checkModels,
          // Keys with only our marker are taken as the lab's only by a caller that may adopt them.
          adopting: adopting && mayAdopt,
          keyStore: deps.keyStore,
          target: deps.target.name,
          now: deps.now,
        },
      ),
    { stopAfterFailure: true },
  ).catch(async (error: unknown) => {
    // A key may exist now: the lab is recorded as provisioning, so a retry knows it is not from
    // before the ledger. A refusal (4xx) comes before any write, and records nothing.
    if (generation && !users && !isRefusal(error)) {
      await deps.ledger.startGeneration(guid, deps.leaseOwner, generation).catch(() => undefined);
    }
    throw error;
  });
  const expiries = keys.flatMap((key) => (key.expires ? [key.expires.toISOString()] : []));
  await deps.ledger.release(
    guid,
    deps.leaseOwner,
    {
      state: 'active',
      lastEventAt: deps.lifecycle.occurredAt.toISOString(),
      ...(expiries.length > 0 ? { expiresAt: expiries.sort().at(-1) } : {}),
      ...(users ? { users } : {}),
    },
    users ? undefined : generation,
  );
  return { guid, target: deps.target, keys, created: keys.some((key) => key.created) };
}
