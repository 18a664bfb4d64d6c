import { requireScope } from '../lib/auth/access.ts';
import { getConfig } from '../lib/config.ts';
import { type DestroyedLab, destroyLab } from '../lib/destroy/destroy-lab.ts';
import { parseDestroyRequest } from '../lib/destroy/request.ts';
import { destroyResponse } from '../lib/destroy/response.ts';
import { announce, destroyedEvent } from '../lib/events/results.ts';
import { jsonResponse } from '../lib/http.ts';
import type { Lifecycle } from '../lib/lab/lifecycle.ts';
import { log } from '../lib/log.ts';
import { publishKeyCounts } from '../lib/metrics.ts';
import {
  depsFor,
  eventChain,
  eventLifecycle,
  httpChain,
  httpLifecycle,
  httpOrEvent,
  type ServiceContext,
} from '../lib/middleware.ts';

const config = getConfig();

async function destroy(input: unknown, lifecycle: Lifecycle, context: ServiceContext): Promise<DestroyedLab> {
  requireScope(lifecycle.caller, 'destroy', 'to destroy labs');
  const source = lifecycle.trigger;
  const request = parseDestroyRequest(input, source, config);
  const { secret, ...deps } = depsFor(config, context);
  const lab = await destroyLab(request, {
    ...deps,
    config,
    lifecycle,
    ...(secret.databaseUrl ? { databaseUrl: secret.databaseUrl } : {}),
  });
  log.info('destroyed', {
    guid: lab.guid,
    source,
    was_missing: lab.wasMissing,
    deleted_keys: lab.deletedKeys,
    database_deleted_keys: lab.databaseDeleted,
    stored_keys_deleted: lab.storedKeysDeleted,
    verified_by: lab.checks.map((check) => check.verifiedBy),
    total_spend: lab.totalSpend,
  });
  publishKeyCounts('KeysDeleted', 'destroy', lab.summary.packages);
  await announce(config, destroyedEvent(lab, source), source);
  return lab;
}

const http = httpChain(config, 'destroy', async (event, context) => {
  const input = { ...event.queryStringParameters, guid: event.pathParameters?.guid };
  return jsonResponse(200, destroyResponse(await destroy(input, httpLifecycle(event), context)));
});

const labEvent = eventChain(config, 'destroy', async (event, context) => {
  const lab = await destroy(event.detail, eventLifecycle(event), context);
  return {
    outcome: lab.wasMissing ? 'already-gone' : 'destroyed',
    guid: lab.guid,
    deleted_keys: lab.deletedKeys,
  };
});

/** `DELETE /keys/{guid}` and the EventBridge `Lab Destroyed` event. */
export const handler = httpOrEvent(http, labEvent);
