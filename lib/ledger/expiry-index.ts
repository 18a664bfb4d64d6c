import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type KeyEntry, keyFromItem } from './records.ts';
import { dynamo, KEYS_BY_EXPIRY, SWEEP_SHARDS, send } from './table.ts';

export const SHARDS = Array.from({ length: SWEEP_SHARDS }, (_, shard) => String(shard));

export interface ExpiryWindow {
  /** Keys expiring after this (exclusive); from the earliest when absent. */
  readonly after?: string;
  /** Keys expiring before this (exclusive). */
  readonly before: string;
}

export interface ExpiryPage {
  readonly keys: readonly KeyEntry[];
  readonly next?: Record<string, unknown>;
}

/**
 * One page of live keys of one shard of the keys-by-expiry index, soonest first. The index is
 * eventually consistent: a caller acts on a key only through a conditional write that checks it.
 */
export async function keysExpiring(
  table: string,
  shard: string,
  window: ExpiryWindow,
  limit: number,
  start?: Record<string, unknown>,
): Promise<ExpiryPage> {
  const out = await send('Query', () =>
    dynamo().send(
      new QueryCommand({
        TableName: table,
        IndexName: KEYS_BY_EXPIRY,
        KeyConditionExpression: window.after
          ? 'sweep_shard = :shard AND sweep_at BETWEEN :after AND :before'
          : 'sweep_shard = :shard AND sweep_at < :before',
        ExpressionAttributeValues: {
          ':shard': shard,
          ':before': window.before,
          ...(window.after ? { ':after': window.after } : {}),
        },
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    ),
  );
  return {
    keys: (out.Items ?? []).map(keyFromItem),
    ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
  };
}

/** Every live key of the ledger, page by page (the nightly checks that walk it whole). */
export async function* allRecordedKeys(table: string): AsyncGenerator<readonly KeyEntry[]> {
  for (const shard of SHARDS) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await keysExpiring(table, shard, { before: '\uffff' }, 1000, start);
      if (page.keys.length > 0) yield page.keys;
      start = page.next;
    } while (start);
  }
}
