import { requireScope } from '../lib/auth/access.ts';
import { getConfig } from '../lib/config.ts';
import { formatExpiry } from '../lib/duration.ts';
import { announce, extendedEvent } from '../lib/events/results.ts';
import { type ExtendedLab, extendLab } from '../lib/extend/extend-lab.ts';
import { parseExtendRequest } from '../lib/extend/request.ts';
import { extendResponse } from '../lib/extend/response.ts';
import { jsonResponse } from '../lib/http.ts';
import type { Lifecycle } from '../lib/lab/lifecycle.ts';
import { log } from '../lib/log.ts';
import { countPerPackage, publishKeyCounts } from '../lib/metrics.ts';
import {
  depsFor,
  eventChain,
  eventLifecycle,
  httpChain,
  httpLifecycle,
  httpOrEvent,
  type ServiceContext,
} from '../lib/middleware.ts';
import { withPathGuid } from '../lib/schemas.ts';

const config = getConfig();

async function extend(input: unknown, lifecycle: Lifecycle, context: ServiceContext): Promise<ExtendedLab> {
  requireScope(lifecycle.caller, 'extend', 'to extend labs');
  const source = lifecycle.trigger;
  const request = parseExtendRequest(input, source);
  const lab = await extendLab(request, { ...depsFor(config, context), config, lifecycle });
  log.info('extended', {
    guid: lab.guid,
    source,
    duration: lab.duration,
    keys: lab.keys.map((key) => ({ alias: key.alias, expires: formatExpiry(key.expires) })),
  });
  publishKeyCounts(
    'KeysExtended',
    'extend',
    countPerPackage(lab.keys, (key) => key.package),
  );
  await announce(config, extendedEvent(lab, source), source);
  return lab;
}

const http = httpChain(
  config,
  'extend',
  async (event, context) => {
    const input = withPathGuid(event.body, event.pathParameters?.guid);
    return jsonResponse(200, extendResponse(await extend(input, httpLifecycle(event), context)));
  },
  { jsonBody: true },
);

const labEvent = eventChain(config, 'extend', async (event, context) => {
  const lab = await extend(event.detail, eventLifecycle(event), context);
  return { outcome: 'extended', guid: lab.guid, expires: formatExpiry(lab.keys[0]?.expires) };
});

/** `POST /keys/{guid}/extend` and the EventBridge `Lab Extended` event. */
export const handler = httpOrEvent(http, labEvent);
