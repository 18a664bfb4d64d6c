import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { getConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http.ts';
import { LiteLlmClient } from '../lib/litellm/client.ts';
import { log } from '../lib/log.ts';
import { readMasterSecret } from '../lib/master-key.ts';
import {
  deadlineOf,
  eventChain,
  httpChain,
  isHttpEvent,
  type LabEvent,
  type ServiceContext,
  withServiceContext,
} from '../lib/middleware.ts';
import { provisionLab } from '../lib/provision/provision-lab.ts';
import { type ProvisionSource, parseProvisionRequest } from '../lib/provision/request.ts';
import { provisionResponse } from '../lib/provision/response.ts';

const config = getConfig();

async function provision(input: unknown, source: ProvisionSource, context: ServiceContext) {
  const request = parseProvisionRequest(input, source, config);
  const { masterKey } = readMasterSecret(context.litellmSecret);
  const litellm = new LiteLlmClient(config.litellm, masterKey, deadlineOf(context));
  const lab = await provisionLab(request, litellm, config);
  log.info('provisioned', {
    guid: lab.guid,
    source,
    created: lab.created,
    keys: lab.keys.map((key) => ({ alias: key.spec.alias, key_id: key.keyId, created: key.created })),
  });
  return lab;
}

const http = httpChain(
  config,
  'provision',
  async (event, context) => {
    const lab = await provision(event.body, 'http', context);
    return jsonResponse(lab.created ? 201 : 200, provisionResponse(lab, config.litellm.publicUrl));
  },
  { jsonBody: true },
);

const labEvent = eventChain(config, 'provision', async (event, context) => {
  const lab = await provision(event.detail, 'event', context);
  return {
    outcome: lab.created ? 'created' : 'existing',
    guid: lab.guid,
    aliases: lab.keys.map((k) => k.spec.alias),
  };
});

/** `POST /keys` and the EventBridge `Lab Provisioned` event. */
export const handler = (event: APIGatewayProxyEventV2 | LabEvent, context: Context) =>
  isHttpEvent(event)
    ? withServiceContext(http)(event, context)
    : withServiceContext(labEvent)(event, context);
