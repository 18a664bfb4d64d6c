import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_TARGET } from '../target-config.ts';
import type { IndexPosition } from './sweep-index.ts';
import { dynamo, send } from './table.ts';

/** Where the nightly reconciliation's walk of LiteLLM's key list stopped, kept in the ledger. */
export interface ReconcileCursor {
  /** The next /key/list page. */
  readonly page: number;
  /** `expired`: the proxy's expiry filter (v1.93 on); `none` once it turned out to ignore or refuse it. */
  readonly filter: 'expired' | 'none';
  /** Where the check of recorded keys against LiteLLM goes on; from the start when absent. */
  readonly closing?: IndexPosition;
}

/** One cursor per LiteLLM target; the default target's is the one there always was. */
function keyOf(target: string) {
  return { pk: 'META', sk: target === DEFAULT_TARGET ? 'RECONCILE' : `RECONCILE#${target}` };
}

export async function readReconcileCursor(table: string, target: string): Promise<ReconcileCursor> {
  const out = await send('GetItem', () =>
    dynamo().send(new GetCommand({ TableName: table, Key: keyOf(target), ConsistentRead: true })),
  );
  const page = out.Item?.page;
  const closing = out.Item?.closing as { shard?: unknown; start?: unknown } | undefined;
  return {
    page: typeof page === 'number' && Number.isInteger(page) && page >= 1 ? page : 1,
    filter: out.Item?.filter === 'none' ? 'none' : 'expired',
    ...(typeof closing?.shard === 'number'
      ? {
          closing: {
            shard: closing.shard,
            ...(closing.start && typeof closing.start === 'object'
              ? { start: closing.start as Record<string, unknown> }
              : {}),
          },
        }
      : {}),
  };
}

export async function writeReconcileCursor(
  table: string,
  target: string,
  cursor: ReconcileCursor,
): Promise<void> {
  await send('PutItem', () =>
    dynamo().send(
      new PutCommand({
        TableName: table,
        Item: {
          ...keyOf(target),
          page: cursor.page,
          filter: cursor.filter,
          ...(cursor.closing ? { closing: cursor.closing } : {}),
          updated_at: new Date().toISOString(),
        },
      }),
    ),
  );
}
