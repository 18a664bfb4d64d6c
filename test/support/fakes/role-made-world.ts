import { createHash } from 'node:crypto';
import type { Caller } from '../../../lib/auth/client-grants.ts';
import { Deadline } from '../../../lib/deadline.ts';
import { destroyLab } from '../../../lib/destroy/destroy-lab.ts';
import { parseDestroyRequest } from '../../../lib/destroy/request.ts';
import { NotFoundError } from '../../../lib/errors.ts';
import { extendLab } from '../../../lib/extend/extend-lab.ts';
import { parseExtendRequest } from '../../../lib/extend/request.ts';
import type { LabOperationDeps } from '../../../lib/invocation/lab-operation.ts';
import { refuseForeignLab } from '../../../lib/lab/ownership.ts';
import type { Lab } from '../../../lib/ledger/lab-record.ts';
import { provisionLab } from '../../../lib/provision/provision-lab.ts';
import { parseProvisionRequest } from '../../../lib/provision/request.ts';
import { takeOverRoleMadeLab } from '../../../lib/role-made/take-over.ts';
import { sweepRoleMadeKeys } from '../../../lib/sweep/role-made-sweep.ts';
import { GUID, OWNER, SQUATTER, type StepScheduler, World } from './lab-world.ts';
import type { MemoryLiteLlm } from './memory-litellm.ts';

/**
 * The cut-over explored: one lab whose two users' keys the Ansible role made on the default proxy,
 * the window open for the owner's client, and the service's takeover (by destroy, extend or
 * status), its role-made sweep, its nightly sweep and a provision of the same guid, in every order
 * the scheduler picks. Besides the lab world's invariants: a role-made key is deleted only while
 * the ledger records it as being deleted (intent before effect), is taken over once, never with a
 * value, and a client outside the window's list takes nothing.
 */

export type RoleStep =
  | 'destroy'
  | 'extend'
  | 'status'
  | 'outsider'
  | 'roleSweep'
  | 'sweep'
  | 'provision'
  | 'tick';
export const ROLE_STEPS: readonly RoleStep[] = [
  'destroy',
  'extend',
  'status',
  'outsider',
  'roleSweep',
  'sweep',
  'provision',
  'tick',
];

const WINDOW = { until: new Date('2027-06-30T00:00:00Z'), clients: [OWNER.client] };

export class RoleMadeWorld extends World {
  /** The role's keys, by token: what the invariants follow. */
  readonly roleTokens = new Set<string>();

  constructor(s?: StepScheduler, holds: readonly boolean[] = [false]) {
    super(s, holds);
    const proxy = this.proxies.default as MemoryLiteLlm;
    for (const user of ['user1', 'user2']) {
      const token = createHash('sha256').update(`role-${user}`).digest('hex');
      this.roleTokens.add(token);
      proxy.keys.set(token, {
        token,
        key_alias: `virtkey-${GUID}-${user}`,
        // Expired once the clock has ticked twice: both sweeps may find them.
        expires: new Date(this.time + 45 * 60_000).toISOString(),
        models: ['granite-3-2-8b-instruct'],
        metadata: {
          guid: GUID,
          user,
          created_by: 'babylon',
          models: 'granite-3-2-8b-instruct',
          duration: '45m',
        },
        user_id: `${user}@lab.opentlc.com`,
        created_at: new Date(this.time).toISOString(),
      });
    }
    const checkDelete = proxy.onDelete;
    proxy.onDelete = (tokens) => {
      checkDelete(tokens);
      const lab = this.store.lab(GUID);
      for (const token of tokens) {
        const recorded = lab.keys.find((key) => key.keyId === token && key.target === 'default');
        if (this.roleTokens.has(token) && proxy.keys.has(token) && recorded?.status !== 'deleting')
          this.violations.push(
            `role key ${token.slice(0, 8)} deleted while recorded ${recorded?.status ?? 'nowhere'}`,
          );
      }
    };
  }

  override async deps(who: Caller, targetName: string): Promise<LabOperationDeps> {
    const deps = await super.deps(who, targetName);
    return { ...deps, config: { ...deps.config, roleKeysTakeover: WINDOW } };
  }

  /** What runLabOperation does before a destroy or extend: the takeover, then the ownership check. */
  private async takenOver(who: Caller): Promise<LabOperationDeps | undefined> {
    const deps = await this.deps(who, 'default');
    const known = await takeOverRoleMadeLab(await this.store.read(GUID), who, deps);
    try {
      refuseForeignLab(who, known);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
    return {
      ...deps,
      known,
      ...(known.target ? await this.targets.connect(this.targets.recorded(known.target)) : {}),
    };
  }

  override async step(step: string): Promise<void> {
    switch (step as RoleStep) {
      case 'destroy': {
        const deps = await this.takenOver(OWNER);
        if (deps) await destroyLab(parseDestroyRequest({ guid: GUID }, 'http', deps.config), deps);
        return;
      }
      case 'extend': {
        const deps = await this.takenOver(OWNER);
        if (deps)
          await extendLab(parseExtendRequest({ guid: GUID, duration: '10d' }, 'http', this.now()), deps);
        return;
      }
      case 'status':
        await this.takenOver(OWNER);
        return;
      case 'outsider': {
        const before = this.store.lab(GUID).client;
        await this.takenOver(SQUATTER);
        const after = this.store.lab(GUID).client;
        if (after === SQUATTER.client && before !== SQUATTER.client)
          this.violations.push('a client outside the window took the lab over');
        return;
      }
      case 'provision': {
        // As runLabOperation runs it: the takeover first, then the provision on the lab's target.
        const deps = await this.takenOver(OWNER);
        await provisionLab(
          parseProvisionRequest(
            { guid: GUID, package: 'ai-developer', duration: '1h' },
            'http',
            deps?.config ?? (await this.deps(OWNER, 'default')).config,
          ),
          deps ?? (await this.deps(OWNER, 'default')),
        );
        return;
      }
      case 'roleSweep': {
        const deps = await this.deps(OWNER, 'default');
        await sweepRoleMadeKeys(false, {
          ...deps,
          now: this.now(),
          stopAt: new Deadline(this.time + 10_000),
          lease: { ...deps.lease, owner: `role-sweep-${this.time}-${Math.random()}` },
        });
        return;
      }
      default:
        return super.step(step as Parameters<World['step']>[0]);
    }
  }

  /** Settled: a destroyed lab keeps no key; each role key left is recorded once (or never taken), without a value. */
  override async checkSettled(lab: Lab): Promise<void> {
    const proxy = this.proxies.default as MemoryLiteLlm;
    for (const token of this.roleTokens) {
      const records = lab.keys.filter((key) => key.keyId === token);
      if (records.length > 1)
        this.violations.push(`role key ${token.slice(0, 8)} recorded ${records.length} times`);
      if (records.some((key) => key.sealed !== undefined))
        this.violations.push(`role key ${token.slice(0, 8)} recorded with a value`);
      if (proxy.keys.has(token) && lab.state === 'destroyed')
        this.violations.push(`destroyed lab keeps role key ${token.slice(0, 8)}`);
      // Taken over and left live: the ledger must still know it, or nothing would ever delete it.
      if (proxy.keys.has(token) && lab.roleMade && records.length === 0)
        this.violations.push(`role key ${token.slice(0, 8)} left in LiteLLM, forgotten by a taken-over lab`);
    }
    // The lab world's own check for every other key (the ones the service made, with values).
    const withoutRole: Lab = { ...lab, keys: lab.keys.filter((key) => !this.roleTokens.has(key.keyId)) };
    const saved = new Map([...proxy.keys].filter(([token]) => this.roleTokens.has(token)));
    for (const token of saved.keys()) proxy.keys.delete(token);
    try {
      await super.checkSettled(withoutRole);
    } finally {
      for (const [token, record] of saved) proxy.keys.set(token, record);
    }
  }
}
