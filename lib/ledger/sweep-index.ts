import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SWEEP_SHARDS } from './lab-record.ts';
import { dynamo, LABS_BY_SWEEP, send } from './table.ts';

/** A lab with sweep work due, as the sweep's index projects it. */
export interface DueLab {
  readonly guid: string;
  /** Its earliest key expiry or recheck. */
  readonly sweepAt: string;
  /** Its earliest expiry not yet warned about. */
  readonly warnAt?: string;
  readonly target?: string;
  /** Its live keys, as `<target> <key id>`. */
  readonly keyRefs: readonly string[];
  /** The targets it has keys or rechecks on. */
  readonly targets: readonly string[];
}

function dueLabOf(item: Record<string, unknown>): DueLab {
  return {
    guid: String(item.guid),
    sweepAt: String(item.sweep_at),
    ...(typeof item.warn_at === 'string' ? { warnAt: item.warn_at } : {}),
    ...(typeof item.target === 'string' ? { target: item.target } : {}),
    keyRefs: Array.isArray(item.key_refs) ? item.key_refs.map(String) : [],
    targets: Array.isArray(item.sweep_targets) ? item.sweep_targets.map(String) : [],
  };
}

/** Where a walk of the index stands: a shard, and where in it the next page starts. */
export interface IndexPosition {
  readonly shard: number;
  readonly start?: Record<string, unknown>;
}

/** One page of labs whose sweep time is before `before`, and where the walk goes on (none once every shard is read). */
export async function labsDuePage(
  table: string,
  before: string,
  pageSize: number,
  from: IndexPosition,
): Promise<{ readonly labs: DueLab[]; readonly next?: IndexPosition }> {
  const out = await send('Query', () =>
    dynamo().send(
      new QueryCommand({
        TableName: table,
        IndexName: LABS_BY_SWEEP,
        KeyConditionExpression: 'sweep_shard = :shard AND sweep_at < :before',
        ExpressionAttributeValues: { ':shard': String(from.shard), ':before': before },
        Limit: pageSize,
        ExclusiveStartKey: from.start,
      }),
    ),
  );
  const labs = (out.Items ?? []).map(dueLabOf);
  if (out.LastEvaluatedKey) return { labs, next: { shard: from.shard, start: out.LastEvaluatedKey } };
  return from.shard + 1 < SWEEP_SHARDS ? { labs, next: { shard: from.shard + 1 } } : { labs };
}

/**
 * Labs whose sweep time is before `before`, soonest first within each shard, a page at a time. The
 * index is eventually consistent: the sweep acts on a lab only under its lease, on the lab as leased.
 */
export async function* labsDue(table: string, before: string, pageSize = 100): AsyncGenerator<DueLab[]> {
  let position: IndexPosition | undefined = { shard: 0 };
  while (position) {
    const page = await labsDuePage(table, before, pageSize, position);
    if (page.labs.length > 0) yield page.labs;
    position = page.next;
  }
}
