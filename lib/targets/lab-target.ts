import type { Caller } from '../auth/client-grants.ts';
import { Problem, UnavailableError } from '../errors.ts';
import { isLive } from '../lab/lifecycle.ts';
import type { Lab } from '../ledger/lab-record.ts';
import { DEFAULT_TARGET, type LiteLlmTarget } from '../target-config.ts';
import type { Targets } from './target-connections.ts';

/** A request names a target other than the one the lab lives on. */
export class TargetMismatchError extends Problem {
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

/** The target the ledger records for a lab; a lab never provisioned is on `default`. */
export function recordedTargetName(lab: Lab): string {
  return lab.target ?? DEFAULT_TARGET;
}

/**
 * Where a destroy, extend or status goes: always the lab's own target, whatever the request
 * says; a request naming another one is refused (`hint` says what was not done) before anything
 * is touched.
 */
export function labTarget(
  guid: string,
  lab: Lab,
  targets: Targets,
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
  lab: Lab,
  targets: Targets,
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
export function refuseMovedMeanwhile(lab: Lab, connected: LiteLlmTarget): void {
  if (!isLive(lab)) return;
  const recorded = recordedTargetName(lab);
  if (recorded === connected.name) return;
  throw new UnavailableError(
    `lab ${lab.guid} moved to LiteLLM target ${recorded} while this request waited; nothing was changed, retry`,
    1,
  );
}

/** A lab in the middle of a move: finishing that move (or destroying the lab) comes first. */
export class UnfinishedMoveError extends Problem {
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
export function refuseUnfinishedMove(lab: Lab): void {
  if (lab.movingTo && isLive(lab)) throw new UnfinishedMoveError(lab.guid, lab.movingTo);
}
