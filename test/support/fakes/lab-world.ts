import { type Caller, SCOPES } from '../../../lib/auth/client-grants.ts';
import { readConfig } from '../../../lib/config.ts';
import { Deadline } from '../../../lib/deadline.ts';
import { destroyLab } from '../../../lib/destroy/destroy-lab.ts';
import { parseDestroyRequest } from '../../../lib/destroy/request.ts';
import { extendLab } from '../../../lib/extend/extend-lab.ts';
import { parseExtendRequest } from '../../../lib/extend/request.ts';
import type { LabOperationDeps } from '../../../lib/invocation/lab-operation.ts';
import { hashKey } from '../../../lib/key-identity.ts';
import { openKey } from '../../../lib/lab/key-values.ts';
import { isLive } from '../../../lib/lab/lifecycle.ts';
import type { Lab } from '../../../lib/ledger/lab-record.ts';
import { moveLab } from '../../../lib/move/move-lab.ts';
import { parseMoveRequest } from '../../../lib/move/request.ts';
import { provisionLab } from '../../../lib/provision/provision-lab.ts';
import { parseProvisionRequest } from '../../../lib/provision/request.ts';
import { deleteExpiredKeys } from '../../../lib/sweep/delete-expired.ts';
import { DryRunGate } from '../../../lib/sweep/dry-run-gate.ts';
import type { Targets } from '../../../lib/targets/target-connections.ts';
import { MemoryLabStore } from './memory-lab-store.ts';
import { MemoryLiteLlm } from './memory-litellm.ts';
import { MemoryVault } from './memory-vault.ts';

/** What the protocol's steps need to be scheduled: fast-check's scheduler, or nothing (run as called). */
export interface StepScheduler {
  scheduleFunction<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<T>;
}

/**
 * One lab's world in memory for the protocol's tests: the ledger, KMS and two LiteLLM proxies as
 * fakes, the service's own operations run on them, a clock that only moves when told (or while a
 * request waits for a lease), and the invariants checked as steps answer and once all is settled.
 */

export const GUID = 'g1';
export const GRACE_MS = 3_600_000;
const config = readConfig({
  LITELLM_TARGETS: JSON.stringify({
    default: { url: 'http://default.invalid', master_key_secret_id: 'master-default' },
    east: { url: 'http://east.invalid', master_key_secret_id: 'master-east' },
  }),
  LABS_TABLE: 'labs',
  KEY_VALUES_KMS_KEY_ID: 'alias/test',
  API_TOKENS_SECRET_ID: 'tokens',
});
const MODELS = ['granite-3-2-8b-instruct', 'mistral-7b-instruct'];

const caller = (client: string): Caller => ({
  client,
  scopes: new Set(SCOPES.filter((s) => s !== 'all-labs')),
  limits: {},
});
export const OWNER = caller('rhdp');
export const SQUATTER = caller('squatter');

export type Step =
  | 'provision'
  | 'squat'
  | 'extend'
  | 'destroy'
  | 'sweep'
  | 'move'
  | 'moveBack'
  | 'tick'
  | 'lateApply';
export const STEPS: readonly Step[] = [
  'provision',
  'squat',
  'extend',
  'destroy',
  'sweep',
  'move',
  'moveBack',
  'tick',
  'lateApply',
];

/** Every async method of `fake` made to resolve when the scheduler says. */
function scheduled<T extends object>(
  s: StepScheduler | undefined,
  fake: T,
  methods: readonly (keyof T)[],
): T {
  if (!s) return fake;
  for (const name of methods) {
    const original = (fake[name] as (...args: unknown[]) => Promise<unknown>).bind(fake);
    (fake as Record<keyof T, unknown>)[name] = s.scheduleFunction(original);
  }
  return fake;
}

export class World {
  time = Date.parse('2026-12-07T00:00:00Z');
  readonly now = () => new Date(this.time);
  readonly store: MemoryLabStore;
  readonly vault: MemoryVault;
  readonly proxies: Record<string, MemoryLiteLlm>;
  readonly targets: Targets;
  readonly violations: string[] = [];
  private owners = 0;

  constructor(s?: StepScheduler, holds: readonly boolean[] = [false]) {
    this.store = scheduled(s, new MemoryLabStore(), ['read', 'acquire', 'write']);
    this.store.onWrite = (before, after) => this.checkInFlight(before, after);
    this.vault = scheduled(s, new MemoryVault(), ['seal', 'open']);
    let hold = 0;
    const proxy = (name: string) => {
      const fake = new MemoryLiteLlm(this.now, MODELS, GRACE_MS);
      fake.holdNext = () => holds[hold++ % holds.length] === true;
      // 5: nothing deletes a key the ledger holds as current (live or announced, not being deleted).
      fake.onDelete = (tokens) => {
        const lab = this.store.lab(GUID);
        for (const token of tokens) {
          const key = lab.keys.find((entry) => entry.keyId === token && entry.target === name);
          if (fake.keys.has(token) && key && key.status !== 'deleting')
            this.violations.push(`deleted ${key.status} key ${token.slice(0, 8)} on ${name}`);
        }
      };
      return scheduled(s, fake, [
        'generateKey',
        'getKeyInfo',
        'getKeysInfo',
        'listKeysByAlias',
        'deleteKeys',
        'extendKey',
        'probeKey',
        'listModels',
        'listModelGroups',
      ]);
    };
    this.proxies = { default: proxy('default'), east: proxy('east') };
    const target = (name: string) => {
      const found = config.targets.get(name);
      if (!found) throw new Error(`no target ${name}`);
      return found;
    };
    this.targets = {
      names: ['default', 'east'],
      recorded: target,
      requested: target,
      connect: async (t) => ({
        target: t,
        secret: { masterKey: 'sk-master' },
        litellm: this.proxies[t.name] as MemoryLiteLlm,
      }),
    };
  }

  async deps(who: Caller, targetName: string): Promise<LabOperationDeps> {
    const deadline = new Deadline(this.time + 10_000);
    const target = this.targets.recorded(targetName);
    return {
      config,
      targets: this.targets,
      store: this.store,
      vault: this.vault,
      concurrency: 4,
      deadline,
      lease: {
        store: this.store,
        owner: `op-${++this.owners}`,
        deadline,
        now: this.now,
        pause: async (ms) => this.advance(ms),
      },
      reconcileGraceMs: GRACE_MS,
      now: this.now,
      target,
      secret: { masterKey: 'sk-master' },
      litellm: this.proxies[targetName] as MemoryLiteLlm,
      lifecycle: { trigger: 'http', occurredAt: this.now(), caller: who },
      known: await this.store.read(GUID),
    };
  }

  advance(ms: number): void {
    this.time += ms;
  }

  /**
   * 6: a lab is marked in flight (in the in-flight index) exactly while it holds a lease, lapsed or
   * not, or a move is under way; the mark is set when it goes in flight and then left alone.
   */
  checkInFlight(before: Record<string, unknown> | undefined, after: Record<string, unknown>): void {
    const inFlight = (item: Record<string, unknown> | undefined) =>
      item?.lease !== undefined || item?.moving_to !== undefined;
    const since = after.in_flight_since;
    if ((since !== undefined) !== inFlight(after))
      this.violations.push(
        `in_flight_since ${String(since)} with lease ${JSON.stringify(after.lease)}, moving_to ${String(after.moving_to)}`,
      );
    if ((after.in_flight_shard !== undefined) !== (since !== undefined))
      this.violations.push('in_flight_shard and in_flight_since apart');
    if (inFlight(before) && inFlight(after) && before?.in_flight_since !== since)
      this.violations.push(
        `in_flight_since moved from ${String(before?.in_flight_since)} to ${String(since)}`,
      );
    if (!inFlight(before) && inFlight(after) && since !== this.now().toISOString())
      this.violations.push(`went in flight at ${this.now().toISOString()}, marked ${String(since)}`);
  }

  /** 3: every key an answer hands out is one its caller's lab made. */
  checkHandedOut(who: Caller, values: readonly string[]): void {
    for (const value of values) {
      const record = Object.values(this.proxies)
        .map((proxy) => proxy.keys.get(hashKey(value)))
        .find((found) => found !== undefined);
      if (record && record.metadata?.api_client !== who.client)
        this.violations.push(`${who.client} was handed a key of ${String(record.metadata?.api_client)}`);
    }
  }

  /**
   * 4: an extend answered 200 leaves every key it names with at least the expiry asked. Answers
   * arrive late (the scheduler delays them), so a key a later request deleted may be gone by then;
   * gone while the ledger still holds it live is the fault.
   */
  checkExtended(keys: readonly { keyId: string }[], asked: number, target: string): void {
    for (const { keyId } of keys) {
      const record = this.proxies[target]?.keys.get(keyId);
      const recorded = this.store.lab(GUID).keys.find((key) => key.keyId === keyId && key.target === target);
      if (!record && recorded?.status === 'live')
        this.violations.push(`extended key ${keyId.slice(0, 8)} is gone, yet recorded live`);
      if (record && Date.parse(record.expires ?? '') < asked - 1000)
        this.violations.push(
          `extended key ${keyId.slice(0, 8)} expires ${record.expires}, before ${new Date(asked).toISOString()}`,
        );
    }
  }

  async step(step: Step): Promise<void> {
    const lab = await this.store.read(GUID);
    const labTarget = lab.target ?? 'default';
    switch (step) {
      case 'provision':
      case 'squat': {
        const who = step === 'provision' ? OWNER : SQUATTER;
        const request = parseProvisionRequest(
          { guid: GUID, package: 'ai-developer', duration: '1h' },
          'http',
          config,
        );
        const out = await provisionLab(request, await this.deps(who, isLive(lab) ? labTarget : 'default'));
        this.checkHandedOut(
          who,
          out.keys.map((key) => key.value),
        );
        return;
      }
      case 'extend': {
        const asked = this.time + 10 * 86_400_000;
        const out = await extendLab(
          parseExtendRequest({ guid: GUID, duration: '10d' }, 'http', this.now()),
          await this.deps(OWNER, labTarget),
        );
        this.checkExtended(out.keys, asked, out.target);
        return;
      }
      case 'destroy':
        await destroyLab(
          parseDestroyRequest({ guid: GUID }, 'http', config),
          await this.deps(OWNER, labTarget),
        );
        return;
      case 'move':
      case 'moveBack': {
        const to = step === 'move' ? 'east' : 'default';
        const out = await moveLab(parseMoveRequest({ guid: GUID, target: to }), await this.deps(OWNER, to));
        this.checkHandedOut(
          OWNER,
          out.keys.map((key) => key.value),
        );
        return;
      }
      case 'sweep':
        await this.sweep();
        return;
      case 'tick':
        this.advance(31 * 60_000);
        return;
      case 'lateApply':
        for (const proxy of Object.values(this.proxies)) if (proxy.applyLate()) return;
        return;
    }
  }

  /** One sweep visit of the lab on each target, as the nightly run makes it. */
  async sweep(): Promise<void> {
    for (const name of ['default', 'east']) {
      const deadline = new Deadline(this.time + 10_000);
      await deleteExpiredKeys({
        labsDue: async function* () {
          yield [{ guid: GUID, sweepAt: '', target: name, keyRefs: [], targets: [name] }];
        },
        store: this.store,
        target: name,
        litellm: this.proxies[name] as MemoryLiteLlm,
        cutoff: this.now(),
        now: this.now(),
        graceMs: GRACE_MS,
        gate: new DryRunGate(false),
        concurrency: 4,
        lease: {
          store: this.store,
          owner: `sweep-${++this.owners}`,
          deadline,
          leaseMs: 60_000,
          now: this.now,
        },
        shouldStop: () => false,
      });
    }
  }

  /**
   * Once every held /key/generate has landed and the grace has passed, a sweep: then 1 and 2 hold.
   * 1: a destroyed lab has no key left on any target. 2: every key left is recorded exactly once,
   * with a sealed value that opens to that very key. And the lab is no longer in flight (6).
   */
  async checkSettled(lab: Lab): Promise<void> {
    // 6, once every operation has ended: only a move left half way keeps the lab in flight.
    if (lab.inFlightSince !== undefined && lab.movingTo === undefined)
      this.violations.push(
        `left in flight since ${lab.inFlightSince}, with lease ${JSON.stringify(lab.lease)}`,
      );
    for (const [name, proxy] of Object.entries(this.proxies)) {
      for (const token of proxy.keys.keys()) {
        if (lab.state === 'destroyed')
          this.violations.push(`destroyed lab keeps key ${token.slice(0, 8)} on ${name}`);
        const records = lab.keys.filter((key) => key.keyId === token && key.target === name);
        if (records.length !== 1) {
          this.violations.push(`key ${token.slice(0, 8)} on ${name} recorded ${records.length} times`);
          continue;
        }
        const value = await openKey(new MemoryVault(), GUID, records[0] as Lab['keys'][number]);
        if (hashKey(value) !== token)
          this.violations.push(`key ${token.slice(0, 8)}'s sealed value is another key`);
      }
    }
  }
}
