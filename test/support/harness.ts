/**
 * The stand-ins started together, the environment the functions read, and the hooks a suite runs
 * them with. It sits beside stand-ins/, fixtures/ and checks/ rather than in one of them because it
 * draws on all three: it starts the stand-ins, loads the functions and ends a suite with the checks.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach } from 'node:test';
import { clearCache } from '@middy/util';
import type { Context } from 'aws-lambda';
import { closeLiteLlmConnections } from '../../lib/litellm/transport.ts';
import { eventDetailValidator, schemaErrors } from './checks/doc-schemas.ts';
import { linesLeaking } from './checks/logs.ts';
import { DynamoDbStandIn } from './stand-ins/dynamodb.ts';
import { EventBridgeStandIn } from './stand-ins/eventbridge.ts';
import { KmsStandIn } from './stand-ins/kms.ts';
import { LiteLlmStandIn } from './stand-ins/litellm/server.ts';
import { SecretsManagerStandIn } from './stand-ins/secrets-manager.ts';

export const MASTER_KEY = 'sk-master-0123456789abcdef0123456789abcdef';
export const MASTER_KEY_SECRET_ID = 'litellm-virtual-keys/litellm-master-key';
export const API_TOKENS_SECRET_ID = 'litellm-virtual-keys/api-tokens';

export interface Harness {
  readonly litellm: LiteLlmStandIn;
  readonly secrets: SecretsManagerStandIn;
  readonly bus: EventBridgeStandIn;
  /** The lab ledger's DynamoDB. */
  readonly ledger: DynamoDbStandIn;
  /** Seals the ledger's key values. */
  readonly kms: KmsStandIn;
  /** Clear faults, counters and state between tests (the master-key secret and the KMS keys stay). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The stand-ins on loopback and the environment the functions read, set before any handler is
 * imported (configuration is read once per process, as in Lambda).
 */
export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const [litellm, secrets, bus, ledger, kms] = await Promise.all([
    LiteLlmStandIn.start({ masterKey: MASTER_KEY }),
    SecretsManagerStandIn.start(),
    EventBridgeStandIn.start(),
    DynamoDbStandIn.start(),
    KmsStandIn.start(),
  ]);
  // As operators store it: the master key, and LiteLLM's database for direct deletion.
  secrets.put(
    MASTER_KEY_SECRET_ID,
    JSON.stringify({ master_key: MASTER_KEY, database_url: litellm.table.db.url }),
  );
  secrets.put(API_TOKENS_SECRET_ID, JSON.stringify({ rhdp: 'test-api-token-rhdp-0001' }));
  Object.assign(process.env, {
    LITELLM_URL: `${litellm.url}/`,
    LITELLM_PUBLIC_URL: 'https://litellm.example.com',
    LITELLM_MASTER_KEY_SECRET_ID: MASTER_KEY_SECRET_ID,
    API_TOKENS_SECRET_ID,
    LITELLM_TIMEOUT_MS: '1500',
    LITELLM_RETRIES: '2',
    SECRETS_CACHE_MS: '60000',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
    AWS_ENDPOINT_URL_DYNAMODB: ledger.url,
    AWS_ENDPOINT_URL_KMS: kms.url,
    LABS_TABLE: ledger.tableName,
    KEY_VALUES_KMS_KEY_ID: kms.keyArn,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
    AWS_SECRET_ACCESS_KEY: 'stand-in-secret',
    AWS_MAX_ATTEMPTS: '2',
    ...env,
  });
  const keep = [MASTER_KEY_SECRET_ID, API_TOKENS_SECRET_ID];
  return {
    litellm,
    secrets,
    bus,
    ledger,
    kms,
    reset: async () => {
      await Promise.all([litellm.reset(), ledger.reset()]);
      secrets.reset(keep);
      bus.reset();
      kms.reset();
    },
    close: async () => {
      clearCache();
      await closeLiteLlmConnections();
      await Promise.all([litellm.close(), secrets.close(), bus.close(), ledger.close(), kms.close()]);
    },
  };
}

/**
 * No log line and no event put on the bus may carry the master key, LiteLLM's database URL, any
 * key the stand-in was given or any key handed to a caller (`issued`).
 */
export function assertNothingLeaked(h: Harness, issued: Iterable<string> = []): void {
  const secrets = [MASTER_KEY, h.litellm.table.db.url, ...h.litellm.issuedKeys, ...issued];
  assert.deepEqual(linesLeaking(secrets), [], 'a log line carries a secret');
  const events = h.bus.history.filter((entry) => secrets.some((secret) => entry.raw.includes(secret)));
  assert.deepEqual(events, [], 'an event carries a secret');
}

/** Every event the suite put on the bus has the source and the detail docs/events/result-events.schema.json gives it. */
export function assertEventsDocumented(h: Harness): void {
  const undocumented = h.bus.history.flatMap((entry) => {
    const problems = schemaErrors(eventDetailValidator('result-events', entry.detailType), entry.detail);
    if (entry.source !== 'litellm.virtual-keys') problems.push(`source ${entry.source}`);
    return problems.map((problem) => `${entry.detailType}: ${problem}`);
  });
  assert.deepEqual(undocumented, []);
}

/** End a suite: stand-ins closed first (a failed check must not leave them running), then the leak and event checks. */
export async function closeAndCheck(h: Harness, issued: Iterable<string> = []): Promise<void> {
  await h.close();
  assertNothingLeaked(h, issued);
  assertEventsDocumented(h);
}

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

export type RouteHandlers = Record<'provision' | 'destroy' | 'status' | 'extend', Handler>;

/** The four route functions' handlers by name; import them only after startHarness has set the environment. */
export async function importRouteHandlers(): Promise<RouteHandlers> {
  const load = async (name: string) =>
    ((await import(`../../functions/${name}.ts`)) as { handler: Handler }).handler;
  return {
    provision: await load('provision'),
    destroy: await load('destroy'),
    status: await load('status'),
    extend: await load('extend'),
  };
}

/** Time passing for one key: LiteLLM's expiry and the ledger's record of it move together. */
export async function setKeyExpiry(h: Harness, guid: string, keyId: string, expires: Date): Promise<void> {
  await h.litellm.table.update(keyId, { expires });
  await h.ledger.setExpiry(guid, keyId, expires);
}

export interface HarnessOptions {
  /** Reset the stand-ins before each test (the default); off where tests build on each other or reset in hooks of their own. */
  readonly reset?: boolean;
  /** Clear LiteLLM's faults after each test (the default), so a test's faults end with it. */
  readonly clearFaults?: boolean;
  /** The suite's own set-up, once the harness has started and the route handlers are loaded. */
  readonly setUp?: () => Promise<void>;
}

export interface HarnessSuite {
  readonly h: Harness;
  readonly route: RouteHandlers;
  /** Keys handed to callers: the leak check at the end looks for them too. */
  readonly issued: Set<string>;
}

/**
 * A test file's harness, in node:test hooks: started with `env`, the route handlers loaded and
 * `setUp` run in `before`; reset before each test and LiteLLM's faults cleared after it, unless
 * `options` turn that off; closed and checked (closeAndCheck, with `issued`) in `after`. `h` and
 * `route` read through to what `before` started, so the result can be destructured at the top of
 * the file. The file's own `beforeEach`, `afterEach` and `after` hooks registered after this call
 * run after these; a top-level `before` of its own would not wait for this one (node:test starts
 * them together), hence `setUp`.
 */
export function useHarness(env: Record<string, string> = {}, options: HarnessOptions = {}): HarnessSuite {
  let harness: Harness | undefined;
  let handlers: RouteHandlers | undefined;
  const h = startedLater('the harness', () => harness);
  const issued = new Set<string>();
  before(async () => {
    harness = await startHarness(env);
    handlers = await importRouteHandlers();
    await options.setUp?.();
  });
  if (options.reset ?? true) beforeEach(() => h.reset());
  if (options.clearFaults ?? true) afterEach(() => h.litellm.faults.clear());
  after(() => closeAndCheck(h, issued));
  return { h, route: startedLater('the route handlers', () => handlers), issued };
}

/** Stands for a value a `before` hook fills: every property read goes to that value. */
function startedLater<T extends object>(what: string, value: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, property) {
      const target = value();
      if (!target) throw new Error(`${what}: not started (useHarness's before hook has not run, or failed)`);
      return Reflect.get(target, property);
    },
  });
}
