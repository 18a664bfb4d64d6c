import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Deadline } from '../deadline.ts';
import { UnavailableError } from '../errors.ts';
import { LabLedger } from './lab-ledger.ts';
import { type KeyEntry, keyFromItem } from './records.ts';
import { dynamo, isConditionFailure, keyItemKey, send } from './table.ts';

/**
 * Conditional writes on single key items, where the sweep and a lab's holder of the lease meet:
 * the sweep claims a key before it deletes it, and only if its expiry is still the one it read;
 * an extend changes the expiry only while no sweep holds a claim.
 */
export class KeyClaims {
  constructor(readonly table: string) {}

  async read(entry: Pick<KeyEntry, 'guid' | 'alias' | 'keyId'>): Promise<KeyEntry | undefined> {
    const out = await send('GetItem', () =>
      dynamo().send(
        new GetCommand({
          TableName: this.table,
          Key: keyItemKey(entry),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? keyFromItem(out.Item) : undefined;
  }

  /** Claim a key for deletion while it still expires at `expiresAt` and no other sweep holds it. */
  async claimForSweep(entry: KeyEntry, owner: string, until: number): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItemKey(entry),
        UpdateExpression: 'SET sweep_owner = :owner, sweep_until = :until',
        ConditionExpression:
          'key_id = :keyId AND expires_at = :expires AND (attribute_not_exists(sweep_until) OR sweep_until < :now)',
        ExpressionAttributeValues: {
          ':owner': owner,
          ':until': until,
          ':keyId': entry.keyId,
          ':expires': entry.expiresAt ?? '',
          ':now': Date.now(),
        },
      }),
    );
  }

  /** Give a claim back: the key turned out not to be expired, or could not be deleted. */
  async releaseSweepClaim(entry: KeyEntry, owner: string, expiresAt?: string): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItemKey(entry),
        UpdateExpression: expiresAt
          ? 'SET expires_at = :expires, sweep_at = :expires REMOVE sweep_owner, sweep_until'
          : 'REMOVE sweep_owner, sweep_until',
        ConditionExpression: 'sweep_owner = :owner',
        ExpressionAttributeValues: { ':owner': owner, ...(expiresAt ? { ':expires': expiresAt } : {}) },
      }),
    );
  }

  /**
   * Remove keys the sweep deleted and holds claims on. No condition is needed: a key item names one
   * token, so a lab that has replaced the key since has a new item, which stays.
   */
  async dropSweptKeys(entries: readonly KeyEntry[]): Promise<void> {
    await new LabLedger(this.table).deleteKeys(entries);
  }

  /** Set a new expiry while no sweep holds the key; false when one does. */
  async setExpiryUnlessClaimed(entry: KeyEntry, expiresAt: string): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItemKey(entry),
        UpdateExpression: 'SET expires_at = :expires, sweep_at = :expires',
        ConditionExpression: 'key_id = :keyId AND (attribute_not_exists(sweep_until) OR sweep_until < :now)',
        ExpressionAttributeValues: { ':expires': expiresAt, ':keyId': entry.keyId, ':now': Date.now() },
      }),
    );
  }

  /**
   * Set a new expiry on a key, waiting out a sweep that holds it (its claim ends within seconds,
   * or lapses): `set`, `swept` when the sweep deleted the key meanwhile, or `busy` at the deadline.
   */
  async setExpiryAfterSweep(
    entry: KeyEntry,
    expiresAt: string,
    deadline: Deadline,
  ): Promise<{ outcome: 'set'; entry: KeyEntry } | { outcome: 'swept' | 'busy' }> {
    let current: KeyEntry | undefined = entry;
    for (let wait = 50; current; wait = Math.min(1000, wait * 2)) {
      if (await this.setExpiryUnlessClaimed(current, expiresAt)) {
        return { outcome: 'set', entry: { ...current, expiresAt } };
      }
      if (deadline.wouldPass(wait)) return { outcome: 'busy' };
      await sleep(wait);
      current = await this.read(current);
    }
    return { outcome: 'swept' };
  }

  /**
   * A key as it is once no sweep holds it: the same entry if none does, the entry after the
   * sweep let it go, or undefined when the sweep deleted it. 503 if the claim outlasts `deadline`.
   */
  async awaitSweep(entry: KeyEntry, deadline: Deadline): Promise<KeyEntry | undefined> {
    let current: KeyEntry | undefined = entry;
    for (
      let wait = 50;
      current?.sweepClaim && current.sweepClaim.until > Date.now();
      wait = Math.min(1000, wait * 2)
    ) {
      if (deadline.wouldPass(wait)) {
        throw new UnavailableError(`the sweep is deleting ${entry.alias}; retry shortly`, 5);
      }
      await sleep(wait);
      current = await this.read(current);
    }
    return current;
  }

  /** Note that `expiresAt` was warned about; false when it already was. */
  async claimWarning(entry: KeyEntry, expiresAt: string): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItemKey(entry),
        UpdateExpression: 'SET warned_expiry = :expires',
        ConditionExpression:
          'attribute_exists(key_id) AND (attribute_not_exists(warned_expiry) OR warned_expiry <> :expires)',
        ExpressionAttributeValues: { ':expires': expiresAt },
      }),
    );
  }

  /** Give a warning's note back (the event did not get out), so the next run sends it. */
  async releaseWarning(entry: KeyEntry, expiresAt: string): Promise<void> {
    await this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItemKey(entry),
        UpdateExpression: entry.warnedExpiry ? 'SET warned_expiry = :previous' : 'REMOVE warned_expiry',
        ConditionExpression: 'warned_expiry = :expires',
        ExpressionAttributeValues: {
          ':expires': expiresAt,
          ...(entry.warnedExpiry ? { ':previous': entry.warnedExpiry } : {}),
        },
      }),
    );
  }

  private async conditionally(command: UpdateCommand): Promise<boolean> {
    try {
      await send('UpdateItem', () => dynamo().send(command));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
