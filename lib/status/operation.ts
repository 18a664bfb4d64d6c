import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import type { Lifecycle } from '../lab/lifecycle.ts';
import { refuseForeignLab } from '../lab/ownership.ts';
import { takeOverRoleMadeLab } from '../role-made/take-over.ts';
import { guidSchema, parseInput } from '../schemas.ts';
import { labTarget } from '../targets/lab-target.ts';
import { labList } from './lab-list.ts';
import { labStatus } from './lab-status.ts';

const requestSchema = z.strictObject({ guid: guidSchema });

export interface StatusRequest {
  /** The lab asked about; none for the list of labs. */
  readonly guid: string | undefined;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly lifecycle: Lifecycle;
}

/** `GET /keys/{guid}`: what LiteLLM holds for a lab; `GET /keys`: the labs of the ledger. */
export async function status({ guid, query, lifecycle }: StatusRequest, deps: InvocationDeps) {
  const { caller } = lifecycle;
  if (guid === undefined) {
    requireScope(caller, 'list', 'to list labs');
    return labList(query, { table: deps.config.labsTable, caller });
  }
  if (!caller.scopes.has('read-key')) requireScope(caller, 'read', 'to read a lab’s status');
  const request = parseInput(requestSchema, { ...query, guid }, 'status request');
  const lab = await takeOverRoleMadeLab(await deps.store.read(request.guid), caller, deps);
  refuseForeignLab(caller, lab);
  const connected = await deps.targets.connect(labTarget(request.guid, lab, deps.targets));
  return labStatus(lab, { ...deps, ...connected, caller });
}
