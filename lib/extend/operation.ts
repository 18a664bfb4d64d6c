import { requireScope } from '../auth/access.ts';
import { formatExpiry } from '../duration.ts';
import { announce } from '../events/bus.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import type { OperationRequest } from '../lab/lifecycle.ts';
import { log } from '../log.ts';
import { countPerPackage, publishKeyCounts } from '../metrics.ts';
import { type ExtendedLab, extendLab } from './extend-lab.ts';
import { parseExtendRequest } from './request.ts';
import { extendedEvent } from './result-event.ts';

/** Extend a lab's keys as asked over HTTP or by a lab event: checked, done, logged, counted and announced. */
export async function extend(
  { input, lifecycle }: OperationRequest,
  deps: InvocationDeps,
): Promise<ExtendedLab> {
  requireScope(lifecycle.caller, 'extend', 'to extend labs');
  const { trigger } = lifecycle;
  const request = parseExtendRequest(input, trigger);
  const lab = await extendLab(request, { ...deps, lifecycle });
  log.info('extended', {
    guid: lab.guid,
    trigger,
    duration: lab.duration,
    keys: lab.keys.map((key) => ({ alias: key.alias, expires: formatExpiry(key.expires) })),
  });
  publishKeyCounts(
    'KeysExtended',
    'extend',
    countPerPackage(lab.keys, (key) => key.package),
  );
  await announce(deps.config, extendedEvent(lab, trigger), trigger);
  return lab;
}
