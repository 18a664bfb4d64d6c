import { checkTargetLimit, logRawKeyRead, requireScope } from '../auth/access.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import { type LabOperation, runLabOperation } from '../invocation/lab-operation.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { countPerPackage } from '../metrics.ts';
import { refuseRoleMadeLab } from '../role-made/take-over.ts';
import { type MovedLab, moveLab } from './move-lab.ts';
import { type MoveRequest, parseMoveRequest } from './request.ts';
import { movedEvent } from './result-event.ts';

const MOVE: LabOperation<MoveRequest, MovedLab> = {
  name: 'move',
  scope: 'provision',
  scopeNeededFor: 'to move labs (their keys are made anew)',
  parse: (input) => parseMoveRequest(input),
  targetOf: (request, lab, { targets, lifecycle }) => {
    const { caller } = lifecycle;
    // The old keys are deleted: a move needs what a destroy needs too.
    requireScope(caller, 'destroy', 'to move labs (their old keys are deleted)');
    refuseForeignLab(caller, lab);
    // Its keys are made anew with their values, which a role-made lab's ledger never had.
    refuseRoleMadeLab(lab);
    const target = targets.requested(request.target, caller.limits.targets);
    checkTargetLimit(caller, target.name);
    return target;
  },
  run: moveLab,
  logLine: (lab) => [
    'moved',
    {
      guid: lab.guid,
      from: lab.from,
      to: lab.target.name,
      deleted_keys: lab.deletedKeys,
      keys: lab.keys.map((key) => ({ alias: key.spec.alias, key_id: key.keyId })),
    },
  ],
  counts: (lab) => [
    'KeysMoved',
    countPerPackage(lab.deletedKeys > 0 ? lab.keys : [], (key) => key.packageName),
  ],
  resultEvent: (lab, trigger) => (lab.changed ? movedEvent(lab, trigger) : undefined),
};

/** `POST /keys/{guid}/move`; the answer carries every key's new value, and that read is logged. */
export async function move(request: OperationRequest, deps: InvocationDeps): Promise<MovedLab> {
  const lab = await runLabOperation(MOVE, request, deps);
  logRawKeyRead(
    request.lifecycle.caller,
    lab.guid,
    lab.keys.map((key) => key.spec.alias),
  );
  return lab;
}
