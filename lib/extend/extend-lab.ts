import { checkExtendLimits, refuseForeignLab } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import type { Deadline } from '../deadline.ts';
import { addDuration, parseDuration } from '../duration.ts';
import { BadRequestError, NotFoundError, UnavailableError } from '../errors.ts';
import { expiryOf, hashKey } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import { adoptLegacyLab } from '../lab/adopt-legacy-lab.ts';
import { type Lifecycle, refuseStaleEvent } from '../lab/lifecycle.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import { knownLab, type LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LedgerLab } from '../ledger/records.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { entryTarget, refuseMovedMeanwhile, refuseUnfinishedMove } from '../targets/lab-target.ts';
import type { ExtendRequest } from './request.ts';

export interface ExtendedKey {
  readonly alias: string;
  readonly user?: string;
  readonly keyId: string;
  readonly expires: Date | undefined;
  readonly package: string;
  readonly secretArn?: string;
}

export interface ExtendedLab {
  readonly guid: string;
  /** The term sent to LiteLLM: the request's duration, or the seconds left until its `expires`. */
  readonly duration: string;
  readonly keys: readonly ExtendedKey[];
  readonly models: readonly string[];
  /** The LiteLLM target the keys are on. */
  readonly target: string;
}

export interface ExtendDeps {
  readonly litellm: LiteLlmClient;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly keyStore: KeyStore;
  readonly lifecycle: Lifecycle;
  readonly leaseOwner: string;
  readonly deadline: Deadline;
  /** The lab's LiteLLM target. */
  readonly target: LiteLlmTarget;
  /** The lab as the ledger held it before this call began. */
  readonly known: LedgerLab;
  readonly now: () => Date;
}

/** LiteLLM's /key/update takes only a duration from now, so an instant becomes whole seconds to it. */
function durationFor(request: ExtendRequest, now: Date): string {
  if ('duration' in request) return request.duration;
  const seconds = Math.ceil((request.expires.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) {
    throw new BadRequestError('expires has passed', [{ field: 'expires', message: 'must be in the future' }]);
  }
  return `${seconds}s`;
}

function noKey(guid: string, lab?: { destroyedAt?: string }): NotFoundError {
  return new NotFoundError(
    lab?.destroyedAt ? `lab ${guid} has no key (destroyed at ${lab.destroyedAt})` : `lab ${guid} has no key`,
  );
}

/**
 * Give every key of the lab (each user's, and expired ones too: LiteLLM revives them) the new
 * term, under the lab's lease. Each key's new expiry is written to the ledger first, and only
 * while no sweep holds the key, so a key the sweep is deleting is either kept (the sweep sees the
 * new expiry) or reported gone, never extended and deleted. Only the duration is sent to LiteLLM,
 * so metadata, models and budget stay exactly as they were.
 */
export async function extendLab(request: ExtendRequest, deps: ExtendDeps): Promise<ExtendedLab> {
  const first = knownLab(deps.known);
  refuseForeignLab(deps.lifecycle.caller, request.guid, first);
  refuseStaleEvent('extend', deps.lifecycle, first);
  refuseUnfinishedMove(first);
  if (first?.state === 'destroyed') throw noKey(request.guid, first);
  const leased = await deps.ledger.lease(request.guid, deps.leaseOwner, deps.deadline);
  try {
    return await extendLeased(request, leased, deps);
  } catch (error) {
    await deps.ledger.abandon(request.guid, deps.leaseOwner);
    throw error;
  }
}

async function extendLeased(request: ExtendRequest, ledger: LedgerLab, deps: ExtendDeps) {
  const { guid } = request;
  const lab = knownLab(ledger);
  refuseForeignLab(deps.lifecycle.caller, guid, lab);
  refuseStaleEvent('extend', deps.lifecycle, lab);
  if (lab?.state === 'destroyed') throw noKey(guid, lab);
  refuseMovedMeanwhile(lab, deps.target);
  refuseUnfinishedMove(lab);
  const now = deps.now();
  const duration = durationFor(request, now);
  const parsed = parseDuration(duration);
  const intended = (parsed ? addDuration(now, parsed) : now).toISOString();
  checkExtendLimits(
    deps.lifecycle.caller,
    'duration' in request ? 'duration' : 'expires',
    new Date(intended),
    now,
  );
  const recorded = lab
    ? ledger.keys.filter((entry) => entryTarget(entry) === deps.target.name)
    : await adoptLegacyLab(guid, deps);
  // One read first: nothing is written before LiteLLM has shown it takes our master key, and a
  // recorded key it no longer holds leaves the ledger instead of failing the extend.
  const held = await deps.litellm.getKeysInfo(recorded.map((entry) => entry.keyId));
  const vanished = recorded.filter((entry) => !held.has(entry.keyId));
  if (vanished.length > 0) await deps.ledger.deleteKeys(vanished);
  const entries = recorded.filter((entry) => held.has(entry.keyId));
  if (entries.length === 0) throw noKey(guid);
  const updated = await eachLimited(entries, deps.target.maxConnections, (entry) =>
    extendKey(entry, duration, intended, deps),
  );
  const keys = updated.filter((key): key is ExtendedKey => key !== undefined);
  if (keys.length === 0) throw noKey(guid);
  const expiries = keys.flatMap((key) => (key.expires ? [key.expires.toISOString()] : [])).sort();
  await deps.ledger.release(guid, deps.leaseOwner, {
    state: 'active',
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    ...(expiries.length > 0 ? { expiresAt: expiries.at(-1) } : {}),
  });
  return { guid, duration, keys, models: lab?.models ?? [], target: deps.target.name };
}

async function extendKey(
  entry: KeyEntry,
  duration: string,
  intended: string,
  deps: ExtendDeps,
): Promise<ExtendedKey | undefined> {
  const claimed = await deps.claims.setExpiryAfterSweep(entry, intended, deps.deadline.sooner(2000));
  if (claimed.outcome === 'swept') return undefined;
  if (claimed.outcome !== 'set') {
    throw new UnavailableError(`the sweep is deleting ${entry.alias}; retry shortly`, 5);
  }
  try {
    return await updateKey(claimed.entry, duration, deps);
  } catch (error) {
    // LiteLLM kept the old expiry: so does the ledger.
    await deps.ledger.putKey(entry).catch(() => undefined);
    throw error;
  }
}

async function updateKey(
  entry: KeyEntry,
  duration: string,
  deps: ExtendDeps,
): Promise<ExtendedKey | undefined> {
  const stored = await deps.keyStore.read(entry.secretName);
  const value =
    stored.state === 'present' && hashKey(stored.value) === entry.keyId ? stored.value : undefined;
  if (!value) {
    log.warn('extending by hash: LiteLLM keeps the old expiry in its auth cache until the entry lapses', {
      alias: entry.alias,
      key_id: entry.keyId,
    });
  }
  const record = await deps.litellm.extendKey(value ?? entry.keyId, duration);
  if (!record) {
    // Deleted since it was recorded: the ledger forgets it.
    await deps.ledger.deleteKeys([entry]);
    return undefined;
  }
  const expires = expiryOf(record);
  await deps.ledger.putKey({ ...entry, ...(expires ? { expiresAt: expires.toISOString() } : {}) });
  return {
    alias: entry.alias,
    ...(entry.user ? { user: entry.user } : {}),
    keyId: entry.keyId,
    expires,
    package: entry.package,
    ...(stored.state === 'present' && value ? { secretArn: stored.arn } : {}),
  };
}
