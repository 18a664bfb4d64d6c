import { requireScope } from '../auth/access.ts';
import { announce } from '../events/bus.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { log } from '../log.ts';
import { publishKeyCounts } from '../metrics.ts';
import { type DestroyedLab, destroyLab } from './destroy-lab.ts';
import { parseDestroyRequest } from './request.ts';
import { destroyedEvent } from './result-event.ts';

/** Destroy a lab as asked over HTTP or by a lab event: checked, done, logged, counted and announced. */
export async function destroy(
  { input, lifecycle }: OperationRequest,
  deps: InvocationDeps,
): Promise<DestroyedLab> {
  requireScope(lifecycle.caller, 'destroy', 'to destroy labs');
  const { trigger } = lifecycle;
  const request = parseDestroyRequest(input, trigger, deps.config);
  const { databaseUrl } = deps.secret;
  const lab = await destroyLab(request, { ...deps, lifecycle, ...(databaseUrl ? { databaseUrl } : {}) });
  log.info('destroyed', {
    guid: lab.guid,
    trigger,
    was_missing: lab.wasMissing,
    deleted_keys: lab.deletedKeys,
    database_deleted_keys: lab.databaseDeleted,
    stored_keys_deleted: lab.storedKeysDeleted,
    verified_by: lab.checks.map((check) => check.verifiedBy),
    total_spend: lab.totalSpend,
  });
  publishKeyCounts('KeysDeleted', 'destroy', lab.summary.packages);
  await announce(deps.config, destroyedEvent(lab, trigger), trigger);
  return lab;
}
