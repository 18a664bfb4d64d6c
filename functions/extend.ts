import { getConfig } from '../lib/config.ts';
import { formatInstant } from '../lib/duration.ts';
import { type ExtendedLab, extendLab } from '../lib/extend/extend-lab.ts';
import { parseExtendRequest } from '../lib/extend/request.ts';
import { jsonResponse } from '../lib/http.ts';
import { log } from '../lib/log.ts';
import { eventChain, httpChain, httpOrEvent, litellmFor, type ServiceContext } from '../lib/middleware.ts';

const config = getConfig();

const instant = (date: Date | undefined) => (date ? formatInstant(date) : null);

async function extend(
  input: unknown,
  source: 'http' | 'event',
  context: ServiceContext,
): Promise<ExtendedLab> {
  const request = parseExtendRequest(input, source);
  const { litellm } = litellmFor(config, context);
  const lab = await extendLab(request, litellm, config);
  log.info('extended', {
    guid: lab.guid,
    source,
    duration: lab.duration,
    keys: lab.keys.map((key) => ({ alias: key.alias, expires: instant(key.expires) })),
  });
  return lab;
}

const http = httpChain(
  config,
  'extend',
  async (event, context) => {
    const body = event.body as unknown;
    const input =
      body && typeof body === 'object' && !Array.isArray(body)
        ? { ...body, guid: event.pathParameters?.guid }
        : body;
    const lab = await extend(input, 'http', context);
    return jsonResponse(200, {
      guid: lab.guid,
      litellm_key_expires: instant(lab.keys[0]?.expires),
      litellm_key_duration: lab.duration,
      keys: lab.keys.map((key) => ({
        litellm_key_alias: key.alias,
        ...(key.user ? { user: key.user } : {}),
        litellm_key_id: key.keyId,
        litellm_key_expires: instant(key.expires),
      })),
    });
  },
  { jsonBody: true },
);

const labEvent = eventChain(config, 'extend', async (event, context) => {
  const lab = await extend(event.detail, 'event', context);
  return { outcome: 'extended', guid: lab.guid, expires: instant(lab.keys[0]?.expires) };
});

/** `POST /keys/{guid}/extend` and the EventBridge `Lab Extended` event. */
export const handler = httpOrEvent(http, labEvent);
