import type { InvocationDeps } from '../invocation/deps.ts';
import { type LabOperation, runLabOperation } from '../invocation/lab-operation.ts';
import { BACKFILL_NOTE } from '../lab/key-spend.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { log } from '../log.ts';
import { labTarget, recordedTargetName } from '../targets/lab-target.ts';
import { type DestroyedLab, destroyLab } from './destroy-lab.ts';
import { type DestroyRequest, parseDestroyRequest } from './request.ts';
import { destroyedEvent } from './result-event.ts';

const DESTROY: LabOperation<DestroyRequest, DestroyedLab> = {
  name: 'destroy',
  scope: 'destroy',
  scopeNeededFor: 'to destroy labs',
  takesOverRoleMade: true,
  parse: parseDestroyRequest,
  targetOf: (request, lab, { targets, lifecycle }) => {
    // Another client's lab is not there for this caller, whatever target it is on.
    refuseForeignLab(lifecycle.caller, lab);
    if (lifecycle.trigger === 'http')
      return labTarget(request.guid, lab, targets, request.target, lifecycle.caller);
    // A lab event was composed when the lab was provisioned; after a move it names the old target.
    // Refusing it would leave the lab's keys working: the lab is destroyed where it is.
    const recorded = recordedTargetName(lab);
    if (request.target !== undefined && request.target !== recorded) {
      log.warn('a Lab Destroyed event names another target than the lab is on; destroyed on its own', {
        guid: request.guid,
        named: request.target,
        target: recorded,
      });
    }
    return labTarget(request.guid, lab, targets);
  },
  // LiteLLM's database, for direct deletion, comes with the master key.
  run: (request, deps) =>
    destroyLab(request, {
      ...deps,
      ...(deps.secret.databaseUrl ? { databaseUrl: deps.secret.databaseUrl } : {}),
    }),
  logLine: (lab) => [
    'destroyed',
    {
      guid: lab.guid,
      was_missing: lab.wasMissing,
      deleted_keys: lab.deletedKeys,
      database_deleted_keys: lab.databaseDeleted,
      late_keys_deleted: lab.lateKeysDeleted,
      verified_by: lab.checks.map((check) => check.verifiedBy),
      total_spend: lab.totalSpend,
      ...(lab.spendMayLackBackfill ? { total_spend_may_lack_backfill: true, spend_note: BACKFILL_NOTE } : {}),
    },
  ],
  counts: (lab) => ['KeysDeleted', lab.summary.packages],
  resultEvent: destroyedEvent,
};

/** `DELETE /keys/{guid}` and `Lab Destroyed`. */
export function destroy(request: OperationRequest, deps: InvocationDeps): Promise<DestroyedLab> {
  return runLabOperation(DESTROY, request, deps);
}
