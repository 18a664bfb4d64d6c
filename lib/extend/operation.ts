import { formatExpiry } from '../duration.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import { type LabOperation, runLabOperation } from '../invocation/lab-operation.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { countPerPackage } from '../metrics.ts';
import { labTarget } from '../targets/lab-target.ts';
import { type ExtendedLab, extendLab } from './extend-lab.ts';
import { type ExtendRequest, parseExtendRequest } from './request.ts';
import { extendedEvent } from './result-event.ts';

const EXTEND: LabOperation<ExtendRequest, ExtendedLab> = {
  name: 'extend',
  scope: 'extend',
  scopeNeededFor: 'to extend labs',
  takesOverRoleMade: true,
  parse: (input, trigger) => parseExtendRequest(input, trigger),
  targetOf: (request, lab, { targets, lifecycle }) => {
    refuseForeignLab(lifecycle.caller, lab);
    return labTarget(request.guid, lab, targets);
  },
  run: extendLab,
  logLine: (lab) => [
    'extended',
    {
      guid: lab.guid,
      duration: lab.duration,
      keys: lab.keys.map((key) => ({ alias: key.alias, expires: formatExpiry(key.expires) })),
    },
  ],
  counts: (lab) => ['KeysExtended', countPerPackage(lab.keys, (key) => key.package)],
  resultEvent: extendedEvent,
};

/** `POST /keys/{guid}/extend` and `Lab Extended`. */
export function extend(request: OperationRequest, deps: InvocationDeps): Promise<ExtendedLab> {
  return runLabOperation(EXTEND, request, deps);
}
