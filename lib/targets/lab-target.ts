import type { Caller } from '../auth/client-grants.ts';
import { HttpError, UnavailableError } from '../errors.ts';
import { isLive } from '../lab/lifecycle.ts';
import type { KeyEntry, LabRecord } from '../ledger/records.ts';
import { DEFAULT_TARGET, type LiteLlmTarget } from '../target-config.ts';
import type { TargetConnections } from './target-connections.ts';

/** A request names a target other than the one the lab lives on. */
export class TargetMismatchError extends HttpError {
  override name = 'TargetMismatchError';
  constructor(guid: string, labTarget: string, named: string, hint: string) {
    super(
      409,
      'target-mismatch',
      'The lab is on another LiteLLM target',
      `lab ${guid} is on LiteLLM target ${labTarget}, not ${named}; ${hint}`,
    );
  }
}

/** The target the ledger records for a lab; labs from before targets existed are on `default`. */
export function recordedTargetName(lab: LabRecord | undefined): string {
  return lab?.target ?? DEFAULT_TARGET;
}

/** The target holding a recorded key; keys recorded before targets existed are on `default`. */
export function entryTarget(entry: KeyEntry): string {
  return entry.target ?? DEFAULT_TARGET;
}

/**
 * Where a destroy, extend or status goes: always the lab's own target, whatever the request
 * says; a request naming another one is refused (`hint` says what was not done) before anything
 * is touched.
 */
export function labTarget(
  guid: string,
  lab: LabRecord | undefined,
  targets: TargetConnections,
  named?: string,
  caller?: Caller,
  hint = 'nothing was deleted',
): LiteLlmTarget {
  const recorded = recordedTargetName(lab);
  if (named !== undefined && named !== recorded) {
    targets.requested(named, caller?.limits.targets);
    throw new TargetMismatchError(guid, recorded, named, hint);
  }
  return targets.recorded(recorded);
}

/**
 * Where a provision goes: a live lab stays on its target (a request naming another is refused:
 * moving is `POST /keys/{guid}/move`); a new lab goes where the request says, or to `default`.
 */
export function provisionTarget(
  guid: string,
  lab: LabRecord | undefined,
  targets: TargetConnections,
  named: string | undefined,
  caller: Caller,
): LiteLlmTarget {
  if (!isLive(lab)) return targets.requested(named ?? DEFAULT_TARGET, caller.limits.targets);
  return labTarget(
    guid,
    lab,
    targets,
    named,
    caller,
    `nothing was created; move the lab with POST /keys/${guid}/move`,
  );
}

/**
 * Checked again under the lab's lease: a move that finished while this request waited has put the
 * lab on another target, and this request's connection is to the old one. A retry goes to the new one.
 */
export function refuseMovedMeanwhile(lab: LabRecord | undefined, connected: LiteLlmTarget): void {
  if (!lab?.state || !isLive(lab)) return;
  const recorded = recordedTargetName(lab);
  if (recorded === connected.name) return;
  throw new UnavailableError(
    `lab ${lab.guid} moved to LiteLLM target ${recorded} while this request waited; nothing was changed, retry`,
    1,
  );
}

/** A lab in the middle of a move: finishing that move (or destroying the lab) comes first. */
export class UnfinishedMoveError extends HttpError {
  override name = 'UnfinishedMoveError';
  constructor(guid: string, to: string) {
    super(
      409,
      'move-unfinished',
      'An earlier move of the lab is unfinished',
      `lab ${guid} is being moved to LiteLLM target ${to}; retry that move (or destroy the lab) first`,
    );
  }
}

/** Provision and extend wait for an unfinished move: its keys on two targets must not drift apart. */
export function refuseUnfinishedMove(lab: LabRecord | undefined): void {
  const to = lab?.movingTo ?? (lab?.movingFrom ? recordedTargetName(lab) : undefined);
  if (lab && to && isLive(lab)) throw new UnfinishedMoveError(lab.guid, to);
}
