/**
 * `npm start`: the HTTP API on localhost. Each request goes through the bearer-token authorizer
 * and is turned into the API Gateway (payload 2.0) event the deployed function receives. Without
 * LITELLM_URL it runs on two embedded LiteLLM stand-ins, the targets `default` and `east` (each
 * with its own master key and models); with LITELLM_URL and LITELLM_MASTER_KEY it runs against
 * that proxy, the one target `default`. Master keys and API tokens are kept by a local Secrets
 * Manager endpoint, key values in the ledger are sealed by a local KMS endpoint, result events go to a local
 * EventBridge endpoint that prints them, and the lab ledger lives in an embedded DynamoDB
 * (dynalite, in memory).
 */
import './check-node.mjs';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  APIGatewayRequestAuthorizerEventV2,
  Context,
} from 'aws-lambda';
import type { Decision } from '../functions/authorizer.ts';
import { bearerToken, MIN_TOKEN_LENGTH } from '../lib/auth/api-tokens.ts';
import { lambdaContext } from '../test/support/fixtures/events.ts';
import { DynamoDbStandIn } from '../test/support/stand-ins/dynamodb.ts';
import { EventBridgeStandIn } from '../test/support/stand-ins/eventbridge.ts';
import { KmsStandIn } from '../test/support/stand-ins/kms.ts';
import { LiteLlmStandIn } from '../test/support/stand-ins/litellm/server.ts';
import { SecretsManagerStandIn } from '../test/support/stand-ins/secrets-manager.ts';
import { type LocalStack, stackFile } from './local-stacks.ts';
import { isAlive } from './process-alive.ts';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const PORT_TEXT = process.env.PORT ?? '3000';
if (!/^\d{1,5}$/.test(PORT_TEXT) || Number(PORT_TEXT) > 65_535)
  fail(`PORT must be a port number from 0 to 65535 (0 picks a free one), not "${PORT_TEXT}".`);
const PORT = Number(PORT_TEXT);
if (process.env.LITELLM_URL && !process.env.LITELLM_MASTER_KEY)
  fail('LITELLM_URL is set, so LITELLM_MASTER_KEY must hold that proxy’s master key; it is not set.');
const MASTER_KEY_SECRET_ID = 'litellm-virtual-keys/litellm-master-key';
const EAST_MASTER_KEY_SECRET_ID = 'litellm-virtual-keys/litellm-master-key-east';
/** The second stand-in's models: one the default proxy does not serve (and not llama), so the targets differ. */
const EAST_MODELS = ['granite-3-2-8b-instruct', 'mistral-7b-instruct', 'qwen-east-14b'];
const API_TOKENS_SECRET_ID = 'litellm-virtual-keys/api-tokens';
/** The token curl sends; API_TOKEN picks one, otherwise a fresh one per start. */
const DEV_TOKEN = process.env.API_TOKEN ?? `dev-${randomBytes(18).toString('base64url')}`;
/**
 * `npm start` runs this under tsx under npm (the script `exec`s tsx: a shell in between would
 * swallow the SIGINT npm forwards, waiting for a child that never hears of it). SIGINT and SIGTERM
 * to npm reach this process through npm and tsx; npm killed outright (SIGKILL) forwards nothing, so
 * this process also watches its launchers, tsx up to npm, and stops when one is gone. The chain is
 * read at start: once npm is gone, it leads nowhere.
 */
function launchers(): number[] {
  const found: number[] = [];
  let pid = process.ppid;
  while (found.length < 4 && pid > 1) {
    found.push(pid);
    let ppid: string;
    let command: string;
    try {
      [ppid = '', command = ''] = execFileSync('ps', ['-o', 'ppid=,args=', '-p', String(pid)], {
        encoding: 'utf8',
      })
        .trim()
        .split(/\s+(.*)/);
    } catch {
      break;
    }
    // npm titles its process `npm <command>`; above it is the caller's shell, not ours to watch.
    if (/^npm( |$)/.test(command)) break;
    pid = Number(ppid);
  }
  return found;
}
const watched = launchers();

// The authorizer would ignore such a token and refuse every request: say so now, not at each curl.
if (DEV_TOKEN.length < MIN_TOKEN_LENGTH || bearerToken(`Bearer ${DEV_TOKEN}`) !== DEV_TOKEN) {
  fail(
    `API_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / (a bearer token), as deployed tokens are; leave it unset for a fresh one`,
  );
}

/** Requests wait here until the stand-ins and handlers are ready; the port is taken first. */
let serve: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
const server = createServer((req, res) => {
  const answer = (status: number, message: string) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
  if (!serve) return answer(503, 'Starting');
  serve(req, res).catch((error: unknown) => {
    console.error('request failed:', error);
    if (!res.headersSent) answer(500, 'Internal Server Error');
  });
});
await new Promise<void>((resolve) => {
  server.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE')
      fail(`Port ${PORT} is in use (another npm start?): PORT=0 npm start picks a free one.`);
    fail(`Cannot listen on port ${PORT}: ${error.message}`);
  });
  server.listen(PORT, '127.0.0.1', resolve);
});
const base = `http://localhost:${(server.address() as AddressInfo).port}`;

/** The table serverless.yml names for the dev stage, so `osls invoke local` finds it too. */
const LABS_TABLE = 'litellm-virtual-keys-dev-labs';

const [secrets, bus, ledger, kms] = await Promise.all([
  SecretsManagerStandIn.start(),
  EventBridgeStandIn.start((entry) =>
    console.log(`event: ${entry.detailType} ${JSON.stringify(entry.detail)}`),
  ),
  DynamoDbStandIn.start(LABS_TABLE),
  KmsStandIn.start(),
]);
secrets.put(API_TOKENS_SECRET_ID, JSON.stringify({ dev: DEV_TOKEN }));
let litellmUrl = process.env.LITELLM_URL;
/** The stand-ins by target name, when no proxy was given. */
const standIns = new Map<string, LiteLlmStandIn>();
if (!litellmUrl) {
  const [masterKey, eastKey] = [`sk-local-${randomUUID()}`, `sk-local-east-${randomUUID()}`];
  const [first, east] = await Promise.all([
    LiteLlmStandIn.start({ masterKey }),
    LiteLlmStandIn.start({ masterKey: eastKey, models: EAST_MODELS }),
  ]);
  standIns.set('default', first).set('east', east);
  litellmUrl = first.url;
  secrets.put(MASTER_KEY_SECRET_ID, masterKey);
  secrets.put(EAST_MASTER_KEY_SECRET_ID, eastKey);
} else {
  secrets.put(MASTER_KEY_SECRET_ID, process.env.LITELLM_MASTER_KEY as string);
}
/** What the functions read, locally as in Lambda; also printed for `osls invoke local`. */
const awsEnv = {
  AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
  AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
  AWS_ENDPOINT_URL_DYNAMODB: ledger.url,
  AWS_ENDPOINT_URL_KMS: kms.url,
  AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
  AWS_SECRET_ACCESS_KEY: 'local',
};
/** The rest of the functions' configuration, as serverless.yml gives it for the dev stage. */
const functionEnv = {
  LITELLM_URL: litellmUrl,
  LITELLM_MASTER_KEY_SECRET_ID: MASTER_KEY_SECRET_ID,
  ...(standIns.size > 1
    ? {
        LITELLM_TARGETS: JSON.stringify({
          default: { url: litellmUrl, master_key_secret_id: MASTER_KEY_SECRET_ID },
          east: { url: standIns.get('east')?.url, master_key_secret_id: EAST_MASTER_KEY_SECRET_ID },
        }),
      }
    : {}),
  API_TOKENS_SECRET_ID,
  LABS_TABLE,
  KEY_VALUES_KMS_KEY_ID: kms.keyArn,
  // The cut-over window (docs/migration.md), when npm start was given one.
  ...Object.fromEntries(
    (['ROLE_KEYS_TAKEOVER_UNTIL', 'ROLE_KEYS_TAKEOVER_CLIENTS'] as const).flatMap((name) =>
      process.env[name] ? [[name, process.env[name]]] : [],
    ),
  ),
};
Object.assign(process.env, { ...functionEnv, ...awsEnv });

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;
const handlerOf = async (name: string) =>
  ((await import(`../functions/${name}.ts`)) as { handler: Handler }).handler;

/** The routes of serverless.yml; `{guid}` becomes a path parameter as API Gateway sets it. */
const routes: { routeKey: string; pattern: RegExp; handler: Handler }[] = [
  { routeKey: 'POST /keys', pattern: /^\/keys$/, handler: await handlerOf('provision') },
  { routeKey: 'GET /keys', pattern: /^\/keys$/, handler: await handlerOf('status') },
  { routeKey: 'GET /health', pattern: /^\/health$/, handler: await handlerOf('health') },
  { routeKey: 'GET /keys/{guid}', pattern: /^\/keys\/([^/]+)$/, handler: await handlerOf('status') },
  { routeKey: 'DELETE /keys/{guid}', pattern: /^\/keys\/([^/]+)$/, handler: await handlerOf('destroy') },
  {
    routeKey: 'POST /keys/{guid}/extend',
    pattern: /^\/keys\/([^/]+)\/extend$/,
    handler: await handlerOf('extend'),
  },
  {
    routeKey: 'POST /keys/{guid}/move',
    pattern: /^\/keys\/([^/]+)\/move$/,
    handler: await handlerOf('move'),
  },
];

function matchRoute(method: string, path: string) {
  for (const route of routes) {
    if (!route.routeKey.startsWith(`${method} `)) continue;
    const match = route.pattern.exec(path);
    if (match) return { route, guid: match[1] ? decodeURIComponent(match[1]) : undefined };
  }
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function toEvent(
  req: IncomingMessage,
  routeKey: string,
  guid: string | undefined,
  url: URL,
  body: string,
): APIGatewayProxyEventV2 {
  const headers = Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(',') : (value ?? ''),
    ]),
  );
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    ...(guid === undefined ? {} : { pathParameters: { guid } }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: new URL(base).host,
      domainPrefix: 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body ? { body } : {}),
    isBase64Encoded: false,
  };
}

const authorize = (
  (await import('../functions/authorizer.ts')) as {
    handler: (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<Decision>;
  }
).handler;

/** The REQUEST authorizer's event (payload 2.0) for a route's event, as API Gateway builds it. */
function authorizerEvent(event: APIGatewayProxyEventV2): APIGatewayRequestAuthorizerEventV2 {
  const { body: _body, isBase64Encoded: _base64, ...request } = event;
  return {
    ...request,
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:us-east-1:000000000000:local/$default/${event.routeKey.replace(' ', '')}`,
    identitySource: [event.headers.authorization ?? ''],
  } as APIGatewayRequestAuthorizerEventV2;
}

serve = async (req, res) => {
  const url = new URL(req.url ?? '/', base);
  const answer = (status: number, message: string) =>
    void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
  let matched: ReturnType<typeof matchRoute>;
  try {
    matched = matchRoute(req.method ?? 'GET', url.pathname);
  } catch {
    // A broken percent-encoding (`/keys/%E0%A4%A`): API Gateway refuses it too.
    return answer(400, 'Bad Request');
  }
  if (!matched) return answer(404, 'Not Found');
  const event = toEvent(req, matched.route.routeKey, matched.guid, url, await readBody(req));
  // API Gateway answers 401 itself when the identity source is missing, 403 when the authorizer denies.
  if (!event.headers.authorization) return answer(401, 'Unauthorized');
  const decision = await authorize(authorizerEvent(event), lambdaContext(5_000)).catch(() => undefined);
  if (!decision) return answer(500, 'Internal Server Error');
  if (!decision.isAuthorized) return answer(403, 'Forbidden');
  const authorized = {
    ...event,
    requestContext: { ...event.requestContext, authorizer: { lambda: decision.context } },
  } as APIGatewayProxyEventV2;
  const result = await matched.route.handler(authorized, lambdaContext());
  res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>).end(result.body ?? '');
};

/** Where `npm run invoke` finds this stack: a file per port, so stacks side by side keep theirs. */
const STACK_FILE = stackFile(Number(new URL(base).port));
const stackState: LocalStack = {
  pid: process.pid,
  port: Number(new URL(base).port),
  base,
  token: DEV_TOKEN,
  env: { ...awsEnv, ...functionEnv },
};
writeFileSync(STACK_FILE, JSON.stringify(stackState, null, 2));
{
  const auth = `-H 'Authorization: Bearer ${DEV_TOKEN}'`;
  // The stack gives the functions the KMS key's ARN itself (resources/key-values-key.yml); here, the stand-in's.
  const envLine = Object.entries({ ...awsEnv, KEY_VALUES_KMS_KEY_ID: kms.keyArn })
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  const proxies =
    standIns.size > 0
      ? [...standIns]
          .map(
            ([name, proxy]) =>
              `LiteLLM stand-in, target ${name}, on ${proxy.url} (models: ${proxy.models.join(', ')})`,
          )
          .join('\n')
      : `LiteLLM at ${litellmUrl} (target default)`;
  const onEast =
    standIns.size > 1
      ? `
Provision on east: curl -s ${auth} -X POST ${base}/keys -d '{"guid":"demo2","package":"ai-beginner","target":"east"}'
Move demo1 there:  curl -s ${auth} -X POST ${base}/keys/demo1/move -d '{"target":"east"}'`
      : '';
  console.log(`litellm-virtual-keys on ${base}
${proxies}
Dev API token: ${DEV_TOKEN}

Provision a lab:   curl -s ${auth} -X POST ${base}/keys -d '{"guid":"demo1","package":"ai-beginner"}'${onEast}
What it holds:     curl -s ${auth} ${base}/keys/demo1
Extend it:         curl -s ${auth} -X POST ${base}/keys/demo1/extend -d '{"duration":"7d"}'
Use its key:       curl -s -H 'Authorization: Bearer <its litellm_virtual_key>' ${litellmUrl}/v1/chat/completions -d '{"model":"granite-3-2-8b-instruct","messages":[{"role":"user","content":"Hello"}]}'
Destroy it:        curl -s ${auth} -X DELETE ${base}/keys/demo1
List the labs:     curl -s ${auth} '${base}/keys?state=active'
A workshop lab:    curl -s ${auth} -X POST ${base}/keys -d '{"guid":"ws1","users":3}'

Run a function on a sample event (events/), on these stand-ins (a lab event's time set to now):
  npm run invoke -- sweep invoke-sweep-dry-run.json     (the sweep, dry; without the sample, for real)
  npm run invoke -- provision eventbridge-lab-provisioned.json
  (with several local stacks running, PORT=${stackState.port} npm run invoke -- ... picks this one)
The same with the Serverless CLI (it bundles first):
  ${envLine} npx osls invoke local --param="litellmUrl=${litellmUrl}" --function provision --path events/eventbridge-lab-provisioned.json
Ready.`);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  rmSync(STACK_FILE, { force: true });
  await Promise.all([
    secrets.close(),
    bus.close(),
    ledger.close(),
    kms.close(),
    ...[...standIns.values()].map((p) => p.close()),
  ]);
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);

setInterval(() => {
  if (!watched.every(isAlive)) void stop();
}, 500).unref();
