import { checkProvisionLimits, checkTargetLimit, logRawKeyRead } from '../auth/access.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import { type LabOperation, runLabOperation } from '../invocation/lab-operation.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { refuseForeignGuid } from '../lab/ownership.ts';
import { countPerPackage } from '../metrics.ts';
import { provisionTarget } from '../targets/lab-target.ts';
import { type ProvisionedLab, provisionLab } from './provision-lab.ts';
import { type ProvisionRequest, parseProvisionRequest } from './request.ts';
import { provisionedEvent } from './result-event.ts';

const PROVISION: LabOperation<ProvisionRequest, ProvisionedLab> = {
  name: 'provision',
  scope: 'provision',
  scopeNeededFor: 'to provision labs',
  takesOverRoleMade: true,
  parse: parseProvisionRequest,
  targetOf: (request, lab, { targets, lifecycle }) => {
    // Limits first, so that a refused request never tells whether the guid is taken; then another
    // client's lab is refused before its target is named. Under the lease both are checked again.
    checkProvisionLimits(lifecycle.caller, { ...request, users: request.users?.length ?? 1 });
    refuseForeignGuid(lifecycle.caller, lab);
    const target = provisionTarget(request.guid, lab, targets, request.target, lifecycle.caller);
    checkTargetLimit(lifecycle.caller, target.name);
    return target;
  },
  run: provisionLab,
  logLine: (lab) => [
    'provisioned',
    {
      guid: lab.guid,
      created: lab.created,
      keys: lab.keys.map((key) => ({ alias: key.spec.alias, key_id: key.keyId, created: key.created })),
    },
  ],
  counts: (lab) => [
    'KeysCreated',
    countPerPackage(
      lab.keys.filter((key) => key.created),
      (key) => key.packageName,
    ),
  ],
  resultEvent: provisionedEvent,
};

/** `POST /keys` and `Lab Provisioned`; an HTTP answer carries every key, and reading the stored ones is logged. */
export async function provision(request: OperationRequest, deps: InvocationDeps): Promise<ProvisionedLab> {
  const lab = await runLabOperation(PROVISION, request, deps);
  if (request.lifecycle.trigger === 'http') {
    const read = lab.keys.filter((key) => !key.created).map((key) => key.spec.alias);
    logRawKeyRead(request.lifecycle.caller, lab.guid, read);
  }
  return lab;
}
