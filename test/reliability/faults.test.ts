/**
 * A bad day: every LiteLLM endpoint answers 503 to one call in five, resets 5% of connections and
 * never answers 2% (half of those resets and hangs after LiteLLM applied the call), Secrets
 * Manager fails 10% of its reads of the master key, and KMS now and then fails calls that seal or
 * open key values. 200 operations on 40 labs, over HTTP and lab events, each retried by its caller
 * until it gets an answer; then LiteLLM and the ledger must agree with the labs.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  labDestroyedEvent,
  labExtendedEvent,
  labProvisionedEvent,
  lambdaContext,
  postKeysEvent,
} from '../support/fixtures/events.ts';
import { invokeHttp } from '../support/fixtures/http.ts';
import { API_TOKENS_SECRET_ID, type Handler, MASTER_KEY_SECRET_ID, useHarness } from '../support/harness.ts';
import { mulberry32 } from '../support/stand-ins/litellm/faults.ts';

const LABS = 40;
const OPERATIONS_PER_LAB = 5;
const CALLER_ATTEMPTS = 15;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

type Operation = 'provision' | 'status' | 'extend' | 'destroy';
type Trigger = 'http' | 'event';

interface Lab {
  readonly guid: string;
  /** Users of a multi-user lab; undefined for a single-user lab. */
  readonly users?: number;
  provisioned: boolean;
  /** How the lab was provisioned: its owner, the HTTP client or the lab event source; another's provision is a 409. */
  owner?: Trigger;
  /** What callers were last given, per alias; a later answer must repeat it until a destroy. */
  readonly keys: Map<string, string>;
}

// The master key is read on every invocation, so Secrets Manager's failures reach the operations.
const { h, route, issued } = useHarness(
  { LITELLM_TIMEOUT_MS: '1000', LITELLM_RETRIES: '2', AWS_MAX_ATTEMPTS: '2', SECRETS_CACHE_MS: '0' },
  { reset: false, clearFaults: false },
);
const random = mulberry32(7);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const aliasesOf = (lab: Lab) =>
  lab.users
    ? Array.from({ length: lab.users }, (_, i) => `virtkey-${lab.guid}-user${i + 1}`)
    : [`virtkey-${lab.guid}`];

/** One attempt: the HTTP status, or for a lab event the outcome (a throw is Lambda's retry). */
async function attempt(lab: Lab, operation: Operation, trigger: Trigger) {
  const { guid } = lab;
  const body = { guid, ...(lab.users ? { users: lab.users } : {}) };
  if (trigger === 'event') {
    const event =
      operation === 'provision'
        ? labProvisionedEvent(body)
        : operation === 'extend'
          ? labExtendedEvent({ guid, duration: '10d' })
          : labDestroyedEvent({ guid });
    const handler = route[operation] as Handler;
    const outcome = (await handler(event, lambdaContext())) as { outcome: string; status?: number };
    const status = outcome.outcome === 'rejected' ? Number(outcome.status) : 200;
    return { status, body: {} as Record<string, unknown> };
  }
  switch (operation) {
    case 'provision':
      return invokeHttp(route.provision, postKeysEvent(body), lambdaContext());
    case 'status':
      return invokeHttp(route.status, getKeysEvent(guid), lambdaContext());
    case 'extend':
      return invokeHttp(route.extend, extendKeysEvent(guid, { duration: '10d' }), lambdaContext());
    case 'destroy':
      return invokeHttp(route.destroy, deleteKeysEvent(guid), lambdaContext());
  }
}

/** Keys in an answer by alias: a provision's `users` or top-level key, or status's `keys`. */
function keysIn(body: Record<string, unknown>): Map<string, string> {
  const entries = (body.users ?? body.keys ?? [body]) as Record<string, unknown>[];
  return new Map(
    entries
      .filter((entry) => typeof entry.litellm_virtual_key === 'string')
      .map((entry) => [String(entry.litellm_key_alias), String(entry.litellm_virtual_key)]),
  );
}

const stats = { operations: 0, attempts: 0, foreign: 0, unanswered: [] as string[] };

/** Retry like a caller (or Lambda's event retries) until an answer that is not a 5xx or a throw. */
async function run(lab: Lab, operation: Operation, trigger: Trigger): Promise<void> {
  stats.operations++;
  let answer: Awaited<ReturnType<typeof attempt>> | undefined;
  let last = '';
  for (let n = 1; n <= CALLER_ATTEMPTS && !answer; n++) {
    stats.attempts++;
    const result = await attempt(lab, operation, trigger).catch((error: Error) => {
      last = `threw ${error.message}`;
      return undefined;
    });
    if (result && result.status < 500) answer = result;
    else {
      if (result) last = `${result.status} ${String(result.body.detail)}`;
      await sleep(20 * n);
    }
  }
  if (!answer) {
    stats.unanswered.push(`${operation} ${lab.guid} (${trigger}), last: ${last}`);
    return;
  }
  const where = `${operation} ${lab.guid} (${trigger})`;
  // A lab belongs to whoever provisioned it: the other's provision of its guid is refused.
  const foreign = operation === 'provision' && lab.provisioned && lab.owner !== trigger;
  const expected = foreign
    ? [409]
    : operation === 'provision' || operation === 'destroy'
      ? [200, 201]
      : lab.provisioned
        ? [200]
        : [404];
  assert.ok(expected.includes(answer.status), `${where}: ${answer.status} ${String(answer.body.detail)}`);
  if (foreign) {
    stats.foreign++;
    assert.equal(keysIn(answer.body).size, 0, `${where}: no key handed out`);
    return;
  }

  if (operation === 'destroy') {
    lab.provisioned = false;
    delete lab.owner;
    lab.keys.clear();
    return;
  }
  if (operation === 'provision') {
    lab.provisioned = true;
    lab.owner = trigger;
  }
  for (const [alias, key] of keysIn(answer.body)) {
    issued.add(key);
    assert.equal(lab.keys.get(alias) ?? key, key, `${where}: ${alias} keeps the key callers were given`);
    lab.keys.set(alias, key);
  }
}

it('keeps LiteLLM and the ledger in step with the labs through 200 operations under faults', async (t) => {
  const labs: Lab[] = Array.from({ length: LABS }, (_, i) => ({
    guid: `fault-${String(i).padStart(2, '0')}`,
    ...(i % 4 === 3 ? { users: 2 + (i % 3) } : {}),
    provisioned: false,
    keys: new Map(),
  }));
  // Each lab's operations in order; the labs run side by side.
  const plans = labs.map((lab) => {
    const plan: [Operation, Trigger][] = [['provision', pick(['http', 'event'] as const)]];
    while (plan.length < OPERATIONS_PER_LAB) {
      const operation = pick(['provision', 'status', 'extend', 'destroy'] as const);
      plan.push([operation, operation === 'status' ? 'http' : pick(['http', 'http', 'event'] as const)]);
    }
    return { lab, plan };
  });

  h.litellm.faults.set(
    { latencyMs: 2, errorRate: 0.2, resetRate: 0.05, hangRate: 0.02, appliedShare: 0.5 },
    11,
  );
  h.secrets.failRandomly(0.1, 13);
  // KMS fails two calls in a row (more than the SDK's one retry absorbs) now and then: at most
  // once per ten calls made, so failures never pile up while few calls are made.
  const kmsRandom = mulberry32(17);
  let kmsFaults = 0;
  let kmsCallsSeen = 0;
  const kmsFaulting = setInterval(() => {
    if (h.kms.callCount() - kmsCallsSeen < 10) return;
    kmsCallsSeen = h.kms.callCount();
    if (kmsRandom() >= 0.5) return;
    kmsFaults += 2;
    h.kms.failNext('*', 2, kmsRandom() < 0.5 ? 'throttled' : 'unavailable');
  }, 20);
  const started = Date.now();
  await Promise.all(
    plans.map(async ({ lab, plan }) => {
      for (const [operation, trigger] of plan) await run(lab, operation, trigger);
    }),
  ).finally(() => clearInterval(kmsFaulting));
  const wallMs = Date.now() - started;
  const met = Object.fromEntries(h.litellm.faults.met);
  h.litellm.faults.clear();
  h.secrets.failRandomly(0);
  const kmsCalls = h.kms.callCount();
  h.kms.reset();

  assert.equal(stats.operations, LABS * OPERATIONS_PER_LAB);
  assert.deepEqual(stats.unanswered, [], `every operation answered within ${CALLER_ATTEMPTS} attempts`);
  assert.ok(stats.attempts > stats.operations, 'the faults made callers retry');
  for (const kind of ['503', 'reset', 'reset-after', 'hang', 'hang-after']) {
    assert.ok((met[kind] ?? 0) > 0, `LiteLLM calls met '${kind}'`);
  }
  assert.ok(h.secrets.failed > 0, 'Secrets Manager calls failed');
  assert.ok(kmsFaults > 0, 'KMS calls were made to fail');

  const rows = await h.litellm.table.db.query<{ token: string; key_alias: string; expires: string | null }>(
    'SELECT token, key_alias, expires FROM "LiteLLM_VerificationToken"',
  );
  const owned = new Set(labs.filter((lab) => lab.provisioned).flatMap(aliasesOf));
  // Every provisioned lab: exactly one live key per alias, the one the ledger records live.
  for (const lab of labs.filter((l) => l.provisioned)) {
    const recorded = await h.ledger.lab(lab.guid);
    assert.equal(recorded.lab?.lab_state, 'active', `${lab.guid}: active`);
    assert.equal(recorded.lab?.lease, undefined, `${lab.guid}: no lease left held`);
    assert.deepEqual(
      recorded.keys.map((key) => [key.alias, key.status]).sort(),
      aliasesOf(lab).map((alias) => [alias, 'live']),
      `${lab.guid}: one live key per alias, nothing announced and left`,
    );
    for (const alias of aliasesOf(lab)) {
      const held = rows.filter((row) => row.key_alias === alias);
      assert.equal(held.length, 1, `${alias}: one key`);
      const entry = recorded.keys.find((key) => key.alias === alias);
      assert.equal(held[0]?.token, entry?.key_id, `${alias}: LiteLLM's key is the recorded key`);
      assert.ok(Date.parse(String(held[0]?.expires)) > Date.now(), `${alias}: live`);
      const given = lab.keys.get(alias);
      if (given) assert.equal(sha256(given), entry?.key_id, `${alias}: the key callers were given`);
    }
  }
  // Every destroyed (or never provisioned) lab: nothing left, in LiteLLM or in the ledger.
  for (const lab of labs.filter((l) => !l.provisioned)) {
    const prefix = `virtkey-${lab.guid}`;
    assert.deepEqual(
      rows.filter((row) => row.key_alias.startsWith(prefix)).map((row) => row.key_alias),
      [],
    );
    const recorded = await h.ledger.lab(lab.guid);
    assert.deepEqual(recorded.keys, [], `${lab.guid}: no key recorded`);
    assert.ok(
      [undefined, 'destroyed'].includes(recorded.lab?.lab_state as string | undefined),
      `${lab.guid}: ${String(recorded.lab?.lab_state)}`,
    );
    assert.equal(recorded.lab?.lease, undefined, `${lab.guid}: no lease left held`);
  }
  // No key that no lab owns; Secrets Manager holds the master key and API tokens, and nothing else.
  assert.deepEqual(
    rows.filter((row) => !owned.has(row.key_alias)).map((row) => row.key_alias),
    [],
  );
  assert.deepEqual([...h.secrets.secrets.keys()].sort(), [API_TOKENS_SECRET_ID, MASTER_KEY_SECRET_ID].sort());

  const provisioned = labs.filter((lab) => lab.provisioned).length;
  t.diagnostic(
    `${stats.operations} operations (${stats.foreign} provisions of another owner’s lab refused), ` +
      `${stats.attempts} caller attempts, ${wallMs} ms; ` +
      `${provisioned} labs provisioned and ${LABS - provisioned} destroyed at the end; ` +
      `LiteLLM calls ${h.litellm.callCount()} (faults met: ${JSON.stringify(met)}), ` +
      `Secrets Manager calls ${h.secrets.callCount()} (${h.secrets.failed} failed), ` +
      `KMS calls ${kmsCalls} (${kmsFaults} made to fail)`,
  );
});
