import { setTimeout as sleep } from 'node:timers/promises';
import { BatchWriteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Deadline } from '../deadline.ts';
import { UnavailableError } from '../errors.ts';
import { log } from '../log.ts';
import {
  type KeyEntry,
  keyFromItem,
  keyToItem,
  type LabRecord,
  type LabState,
  type LedgerLab,
  labFromItem,
} from './records.ts';
import { dynamo, isConditionFailure, keyItemKey, LAB_PARTITION, labKey, send } from './table.ts';

/** How long a destroyed lab's tombstone is kept before DynamoDB's TTL removes it. */
export const TOMBSTONE_DAYS = 7;
/** BatchWriteItem's limit. */
const BATCH = 25;

/** The lab's lease was taken over (it had lapsed): this caller must stop writing. */
export class LeaseLostError extends UnavailableError {
  override name = 'LeaseLostError';
  constructor(guid: string) {
    super(`lab ${guid} was taken over by another request while this one worked; retry`, 2);
  }
}

/** Fields a provision writes when it starts the lab's keys anew. */
export interface NewGeneration {
  readonly users?: readonly string[];
  readonly package: string;
  readonly models: readonly string[];
  readonly maxBudget: number | null;
  readonly duration: string;
  readonly userId?: string;
  readonly target: string;
  readonly client: string;
  readonly startedAt: string;
  readonly expiresAt: string;
  readonly adopted?: boolean;
}

/** Lab lifecycle fields set when a holder of the lease is done. */
export interface LabOutcome {
  readonly state: LabState;
  readonly lastEventAt: string;
  readonly expiresAt?: string;
  readonly users?: readonly string[];
  readonly destroyedAt?: string;
  readonly destroyedKeys?: number;
  readonly totalSpend?: number;
  /** A move is over (done, or its leftovers destroyed with the lab). */
  readonly moveOver?: boolean;
}

function updateOf(fields: Record<string, unknown>, remove: readonly string[] = []) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => {
      names[`#${name}`] = name;
      values[`:${name}`] = value;
      return `#${name} = :${name}`;
    });
  for (const name of remove) names[`#${name}`] = name;
  const expression = [
    sets.length > 0 ? `SET ${sets.join(', ')}` : '',
    remove.length > 0 ? `REMOVE ${remove.map((name) => `#${name}`).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return { expression, names, values };
}

/**
 * The lab ledger in DynamoDB: a lab item and one item per key, in the lab's partition. Changes to
 * a lab are made under its lease (a conditional write on the lab item), so provision, extend and
 * destroy of one lab never interleave; every write under the lease is conditional on holding it.
 */
const MOVE_FIELDS = ['moving_to', 'moving_from'];

export class LabLedger {
  constructor(readonly table: string) {}

  /** The lab and its keys, read consistently (one Query). */
  async read(guid: string): Promise<LedgerLab> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await send('Query', () =>
        dynamo().send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': LAB_PARTITION(guid) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    const labItem = items.find((item) => item.sk === 'LAB');
    return {
      ...(labItem ? { lab: labFromItem(labItem) } : {}),
      keys: items.filter((item) => item.sk !== 'LAB').map(keyFromItem),
    };
  }

  /**
   * Take the lab's lease until `until` (epoch ms) unless someone holds it; the lab as it then is, or
   * undefined. Each release counts a revision: when the lab is at the revision of `known` (read
   * while no one held the lease), its keys are those `known` read and are not read again.
   */
  async tryLease(
    guid: string,
    owner: string,
    until: number,
    known?: LedgerLab,
  ): Promise<LedgerLab | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const out = await send('UpdateItem', () =>
        dynamo().send(
          new UpdateCommand({
            TableName: this.table,
            Key: labKey(guid),
            UpdateExpression: 'SET guid = :guid, lease_owner = :owner, lease_until = :until',
            ConditionExpression: 'attribute_not_exists(lease_until) OR lease_until < :now',
            ExpressionAttributeValues: {
              ':guid': guid,
              ':owner': owner,
              ':until': until,
              ':now': Date.now(),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      item = out.Attributes;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
    // Trusted only when nobody held the lease at that read: a holder that died leaves no new revision.
    const unchanged = known && !known.lab?.lease && item?.revision === known.lab?.revision;
    if (unchanged && item) return { lab: labFromItem(item), keys: known.keys };
    return this.read(guid);
  }

  /** Wait for the lab's lease until shortly before `deadline`; the lab as the new holder finds it. */
  async lease(guid: string, owner: string, deadline: Deadline, known?: LedgerLab): Promise<LedgerLab> {
    const outcome = await this.leaseUnlessSettled(guid, owner, deadline, async () => undefined, known);
    if ('leased' in outcome) return outcome.leased;
    throw new Error('unreachable: nothing settles a plain lease');
  }

  /**
   * Wait for the lab's lease, re-reading the lab meanwhile: `settled` may find that what the
   * caller wanted is already there (another request did it) and end the wait with its answer.
   */
  async leaseUnlessSettled<T>(
    guid: string,
    owner: string,
    deadline: Deadline,
    settled: (lab: LedgerLab) => Promise<T | undefined>,
    known?: LedgerLab,
  ): Promise<{ leased: LedgerLab } | { settled: T }> {
    // Waiters read (one Query) and try the lease only once it looks free: a provision waits on
    // LiteLLM for seconds, and its waiters should not load DynamoDB meanwhile.
    let leased = await this.tryLease(guid, owner, deadline.at, known);
    for (let wait = 50; !leased; wait = Math.min(4000, wait * 1.6)) {
      const pause = wait / 2 + Math.random() * wait;
      if (deadline.sooner(1000).wouldPass(pause)) {
        throw new UnavailableError(`lab ${guid} is being changed by another request; retry shortly`, 2);
      }
      await sleep(pause);
      const lab = await this.read(guid);
      const answer = await settled(lab);
      if (answer !== undefined) return { settled: answer };
      const lease = lab.lab?.lease;
      if (!lease || lease.until < Date.now()) leased = await this.tryLease(guid, owner, deadline.at, lab);
    }
    return { leased };
  }

  /** After a failure under the lease: give it back, or, if even that fails, let it lapse at the deadline. */
  async abandon(guid: string, owner: string): Promise<void> {
    await this.release(guid, owner).catch((failure: unknown) =>
      log.warn('lease not released; it lapses at the deadline', { guid, err: failure }),
    );
  }

  /**
   * Give the lease back, with the outcome of the work done under it; a new generation's fields may
   * be written here too, when nothing had to be recorded before the work (a single-user lab).
   */
  async release(
    guid: string,
    owner: string,
    outcome?: LabOutcome,
    generation?: NewGeneration,
  ): Promise<void> {
    const tombstone = outcome?.state === 'destroyed';
    const started = generation ? generationFields(generation) : { fields: {}, remove: [] };
    const { expression, names, values } = updateOf(
      {
        ...started.fields,
        ...(outcome
          ? {
              lab_state: outcome.state,
              last_event_at: outcome.lastEventAt,
              expires_at: outcome.expiresAt,
              users: outcome.users,
              destroyed_at: outcome.destroyedAt,
              destroyed_keys: outcome.destroyedKeys,
              total_spend: outcome.totalSpend,
              ttl: tombstone ? Math.ceil(Date.now() / 1000) + TOMBSTONE_DAYS * 86_400 : undefined,
            }
          : {}),
      },
      ['lease_owner', 'lease_until', ...started.remove, ...(outcome?.moveOver ? MOVE_FIELDS : [])],
    );
    // Every release is a new revision, whether or not anything changed: simple, and always safe.
    await this.underLease(guid, owner, `${expression} ADD revision :one`, names, { ...values, ':one': 1 });
  }

  /** Record the lab's keys as starting anew (a first provision, or one after a destroy), before any exists. */
  async startGeneration(guid: string, owner: string, generation: NewGeneration): Promise<void> {
    const { fields, remove } = generationFields(generation);
    const { expression, names, values } = updateOf({ ...fields, lab_state: 'provisioning' }, remove);
    await this.underLease(guid, owner, expression, names, values);
  }

  /** A move to `target` begins: recorded before any key exists there, so a destroy finds every key that may. */
  async startMove(guid: string, owner: string, target: string): Promise<void> {
    const { expression, names, values } = updateOf({ moving_to: target });
    await this.underLease(guid, owner, expression, names, values);
  }

  /** The moved keys exist and hold the lab's stored values: the lab is on `target` now, its old keys on `from` still to go. */
  async commitMove(guid: string, owner: string, target: string, from: string): Promise<void> {
    const { expression, names, values } = updateOf({ target, moving_from: from }, ['moving_to']);
    await this.underLease(guid, owner, expression, names, values);
  }

  /** Add users to a multi-user lab before their keys are made, so a destroy finds every key that may exist. */
  async setUsers(guid: string, owner: string, users: readonly string[]): Promise<void> {
    const { expression, names, values } = updateOf({ users });
    await this.underLease(guid, owner, expression, names, values);
  }

  /** Record a key as live in LiteLLM (a new one, a replacement, or a new expiry). */
  async putKey(entry: KeyEntry): Promise<void> {
    // A new key or expiry ends any sweep's claim on the old one.
    const remove = ['sweep_owner', 'sweep_until', ...(entry.expiresAt ? [] : ['sweep_shard', 'sweep_at'])];
    const { expression, names, values } = updateOf(keyToItem(entry), remove);
    await send('UpdateItem', () =>
      dynamo().send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyItemKey(entry),
          UpdateExpression: expression,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  /** Remove keys from the ledger (they are gone from LiteLLM). */
  async deleteKeys(entries: readonly KeyEntry[]): Promise<void> {
    for (let start = 0; start < entries.length; start += BATCH) {
      let requests: Record<string, unknown>[] = entries
        .slice(start, start + BATCH)
        .map((entry) => ({ DeleteRequest: { Key: keyItemKey(entry) } }));
      for (let round = 0; requests.length > 0; round++) {
        if (round > 0) await sleep(Math.min(1000, 50 * 2 ** round));
        const out = await send('BatchWriteItem', () =>
          dynamo().send(new BatchWriteCommand({ RequestItems: { [this.table]: requests as never } })),
        );
        requests = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
        if (round > 8 && requests.length > 0) {
          throw new UnavailableError('DynamoDB keeps leaving ledger deletions unprocessed', 10);
        }
      }
    }
  }

  private async underLease(
    guid: string,
    owner: string,
    expression: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
  ): Promise<void> {
    try {
      await send('UpdateItem', () =>
        dynamo().send(
          new UpdateCommand({
            TableName: this.table,
            Key: labKey(guid),
            UpdateExpression: expression,
            ConditionExpression: 'lease_owner = :leaseOwner',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ...values, ':leaseOwner': owner },
          }),
        ),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new LeaseLostError(guid);
      throw error;
    }
  }
}

/** A new generation's fields, and what an earlier one left that no longer applies. */
function generationFields(generation: NewGeneration): { fields: Record<string, unknown>; remove: string[] } {
  return {
    fields: {
      users: generation.users,
      package: generation.package,
      models: generation.models,
      max_budget: generation.maxBudget,
      duration: generation.duration,
      user_id: generation.userId,
      target: generation.target,
      client: generation.client,
      created_at: new Date().toISOString(),
      started_at: generation.startedAt,
      last_event_at: generation.startedAt,
      expires_at: generation.expiresAt,
      adopted: generation.adopted,
    },
    remove: [
      'destroyed_at',
      'destroyed_keys',
      'total_spend',
      'ttl',
      ...(generation.users ? [] : ['users']),
      ...(generation.userId ? [] : ['user_id']),
      ...(generation.adopted ? [] : ['adopted']),
    ],
  };
}

/** The lab's record, or undefined for a lab the ledger has never seen provisioned or destroyed. */
export function knownLab(ledger: LedgerLab): LabRecord | undefined {
  return ledger.lab?.state ? ledger.lab : undefined;
}
