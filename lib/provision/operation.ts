import { logRawKeyRead, requireScope } from '../auth/access.ts';
import { announce } from '../events/bus.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { log } from '../log.ts';
import { countPerPackage, publishKeyCounts } from '../metrics.ts';
import { type ProvisionedLab, provisionLab } from './provision-lab.ts';
import { parseProvisionRequest } from './request.ts';
import { provisionedEvent } from './result-event.ts';

/** Provision a lab as asked over HTTP or by a lab event: checked, done, logged, counted and announced. */
export async function provision(
  { input, lifecycle }: OperationRequest,
  deps: InvocationDeps,
): Promise<ProvisionedLab> {
  requireScope(lifecycle.caller, 'provision', 'to provision labs');
  const { trigger } = lifecycle;
  const request = parseProvisionRequest(input, trigger, deps.config);
  const lab = await provisionLab(request, { ...deps, lifecycle });
  log.info('provisioned', {
    guid: lab.guid,
    trigger,
    created: lab.created,
    keys: lab.keys.map((key) => ({ alias: key.spec.alias, key_id: key.keyId, created: key.created })),
  });
  publishKeyCounts(
    'KeysCreated',
    'provision',
    countPerPackage(
      lab.keys.filter((key) => key.created),
      (key) => key.packageName,
    ),
  );
  await announce(deps.config, provisionedEvent(lab, trigger), trigger);
  // The HTTP answer carries every key; those it did not just make come out of storage.
  if (trigger === 'http') {
    const read = lab.keys.filter((key) => !key.created).map((key) => key.spec.alias);
    logRawKeyRead(lifecycle.caller, lab.guid, read);
  }
  return lab;
}
