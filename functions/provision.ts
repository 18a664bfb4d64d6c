import { logRawKeyRead, requireScope } from '../lib/auth/access.ts';
import { getConfig } from '../lib/config.ts';
import { announce, provisionedEvent } from '../lib/events/results.ts';
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
import { provisionLab } from '../lib/provision/provision-lab.ts';
import { type ProvisionSource, parseProvisionRequest } from '../lib/provision/request.ts';
import { provisionResponse } from '../lib/provision/response.ts';

const config = getConfig();

async function provision(input: unknown, lifecycle: Lifecycle, context: ServiceContext) {
  requireScope(lifecycle.caller, 'provision', 'to provision labs');
  const source: ProvisionSource = lifecycle.trigger;
  const request = parseProvisionRequest(input, source, config);
  const lab = await provisionLab(request, { ...depsFor(config, context), config, lifecycle });
  log.info('provisioned', {
    guid: lab.guid,
    source,
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
  await announce(config, provisionedEvent(lab, source), source);
  // The HTTP answer carries every key; those it did not just make come out of storage.
  if (source === 'http') {
    const read = lab.keys.filter((key) => !key.created).map((key) => key.spec.alias);
    logRawKeyRead(lifecycle.caller, lab.guid, read);
  }
  return lab;
}

const http = httpChain(
  config,
  'provision',
  async (event, context) => {
    const lab = await provision(event.body, httpLifecycle(event), context);
    return jsonResponse(lab.created ? 201 : 200, provisionResponse(lab, config.litellm.publicUrl));
  },
  { jsonBody: true },
);

const labEvent = eventChain(config, 'provision', async (event, context) => {
  const lab = await provision(event.detail, eventLifecycle(event), context);
  return {
    outcome: lab.created ? 'created' : 'existing',
    guid: lab.guid,
    aliases: lab.keys.map((k) => k.spec.alias),
  };
});

/** `POST /keys` and the EventBridge `Lab Provisioned` event. */
export const handler = httpOrEvent(http, labEvent);
