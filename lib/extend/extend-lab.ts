import { checkExtendLimits } from '../auth/access.ts';
import { eachLimited } from '../concurrency.ts';
import { addDuration, parseDuration } from '../duration.ts';
import { BadRequestError, NotFoundError, Problem } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf } from '../key-identity.ts';
import { keyValueOrId } from '../lab/key-values.ts';
import { refuseStaleEvent } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { mergeRechecks, rechecksUntilExpiry } from '../lab/retired-keys.ts';
import { keysOnTarget, type Lab, type LabKey } from '../ledger/lab-record.ts';
import { type HeldLab, underLease } from '../ledger/lease.ts';
import { forHolder } from '../targets/held-connections.ts';
import { refuseMovedMeanwhile, refuseUnfinishedMove } from '../targets/lab-target.ts';
import type { ExtendRequest } from './request.ts';

export interface ExtendedKey {
  readonly alias: string;
  readonly user?: string;
  readonly keyId: string;
  readonly expires: Date | undefined;
  readonly package: string;
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

/** LiteLLM's /key/update takes only a duration from now, so an instant becomes whole seconds to it. */
function durationFor(request: ExtendRequest, now: Date): string {
  if ('duration' in request) return request.duration;
  const seconds = Math.ceil((request.expires.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) {
    throw new BadRequestError('expires has passed', [{ field: 'expires', message: 'must be in the future' }]);
  }
  return `${seconds}s`;
}

function noKey(lab: Lab): NotFoundError {
  return new NotFoundError(
    lab.destroyedAt && lab.state === 'destroyed'
      ? `lab ${lab.guid} has no key (destroyed at ${lab.destroyedAt})`
      : `lab ${lab.guid} has no key`,
  );
}

/**
 * Give every key of the lab (each user's, and expired ones too: LiteLLM revives them) the new
 * term, under the lab's lease. The new expiry is announced in the ledger (`extending`) before
 * /key/update is sent; the answer is 200 only once the outcome is written under the same lease,
 * so a sweep that took the lab over meanwhile makes it a 503, never a 200 for a key it deleted.
 * Only the duration is sent to LiteLLM, so metadata, models and budget stay exactly as they were.
 */
export function extendLab(request: ExtendRequest, deps: LabOperationDeps): Promise<ExtendedLab> {
  return underLease(request.guid, deps.lease, (held) => extendHeld(request, held, forHolder(held, deps)));
}

/** A lab whose only keys are being deleted (a destroy, the sweep or a replacement did not finish): they are not revived. */
function refuseKeysBeingDeleted(lab: Lab): void {
  const keys = keysOnTarget(lab);
  if (keys.some((key) => key.status === 'live') || !keys.some((key) => key.status === 'deleting')) return;
  throw new Problem(
    409,
    'keys-being-deleted',
    'The lab’s keys are being deleted',
    `lab ${lab.guid}'s keys are being deleted (a destroy, the sweep or a replacement began and did not finish); ` +
      `retry the destroy (DELETE /keys/${lab.guid}), or provision the lab again`,
  );
}

async function extendHeld(request: ExtendRequest, held: HeldLab, deps: LabOperationDeps) {
  const lab = held.lab;
  refuseForeignLab(deps.lifecycle.caller, lab);
  refuseStaleEvent('extend', deps.lifecycle, lab);
  if (lab.state === undefined || lab.state === 'destroyed') throw noKey(lab);
  refuseMovedMeanwhile(lab, deps.target);
  refuseUnfinishedMove(lab);
  refuseKeysBeingDeleted(lab);
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
  const recorded = keysOnTarget(lab).filter((key) => key.status === 'live');
  // One read first: nothing is written before LiteLLM has shown it takes our master key, and a
  // recorded key it no longer holds leaves the ledger instead of failing the extend.
  const inLiteLlm = await deps.litellm.getKeysInfo(recorded.map((key) => key.keyId));
  const keys = recorded.filter((key) => inLiteLlm.has(key.keyId));
  const vanished = new Set(recorded.filter((key) => !inLiteLlm.has(key.keyId)).map((key) => key.keyId));
  // Should a vanished key come back (a restored proxy), it is deleted, not left live unrecorded.
  const forget = (current: Lab): Lab => ({
    ...current,
    keys: current.keys.filter((key) => !vanished.has(key.keyId)),
    rechecks: mergeRechecks(
      current.rechecks,
      rechecksUntilExpiry(
        recorded.filter((key) => vanished.has(key.keyId)),
        deps.reconcileGraceMs,
      ),
    ),
  });
  if (keys.length === 0) {
    await held.release((current) => ({
      ...forget(current),
      state: current.state === 'active' ? 'expired' : current.state,
    }));
    throw noKey(lab);
  }
  await held.record((current) => ({ ...forget(current), extending: intended }));
  const updated = await eachLimited(keys, deps.target.maxConnections, (key) =>
    updateKey(key, duration, held.lab, deps),
  );
  const extended = updated.filter((key): key is LabKey => key !== undefined);
  const goneKeys = keys.filter((_, index) => updated[index] === undefined);
  const gone = new Set(goneKeys.map((key) => key.keyId));
  await held.release((current) => ({
    ...current,
    state: current.state === 'provisioning' ? 'provisioning' : extended.length > 0 ? 'active' : 'expired',
    extending: undefined,
    lastEventAt: deps.lifecycle.occurredAt.toISOString(),
    keys: current.keys
      .filter((key) => !gone.has(key.keyId))
      .map((key) => extended.find((done) => done.keyId === key.keyId) ?? key),
    // Found gone by /key/update and /key/info: looked for again, as the vanished ones above.
    rechecks: mergeRechecks(current.rechecks, rechecksUntilExpiry(goneKeys, deps.reconcileGraceMs)),
  }));
  if (extended.length === 0) throw noKey(lab);
  return {
    guid: lab.guid,
    duration,
    keys: extended.map((key) => ({
      alias: key.alias,
      ...(key.user ? { user: key.user } : {}),
      keyId: key.keyId,
      expires: key.expiresAt ? new Date(key.expiresAt) : undefined,
      package: key.package,
    })),
    models: lab.models ?? [],
    target: deps.target.name,
  };
}

/** One key's new term, sent with its own value where kept: LiteLLM evicts its auth cache under the hash of what it is given. */
async function updateKey(
  key: LabKey,
  duration: string,
  lab: Lab,
  deps: LabOperationDeps,
): Promise<LabKey | undefined> {
  const value = await keyValueOrId(deps.vault, lab.guid, key);
  const record = await deps.litellm.extendKey(value, duration);
  if (!record) return undefined;
  const expires = expiryOf(record);
  return { ...key, ...(expires ? { expiresAt: expires.toISOString() } : {}) };
}
