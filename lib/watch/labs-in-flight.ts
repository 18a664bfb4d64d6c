import { IN_FLIGHT_SHARDS } from '../ledger/lab-record.ts';
import { LABS_IN_FLIGHT, queryPages } from '../ledger/table.ts';

/** A lab in flight, as the in-flight index projects it. */
export interface InFlightLab {
  readonly guid: string;
  /** When its lease was taken, or its move begun, while it was neither leased nor moving. */
  readonly since: string;
  /** Its lease, if it still has one (lapsed or not): the owner names the invocation that took it. */
  readonly lease?: { readonly owner: string; readonly until: number };
  /** The target of a move under way. */
  readonly movingTo?: string;
}

function inFlightLabOf(item: Record<string, unknown>): InFlightLab {
  const lease = item.lease as { owner?: unknown; until?: unknown } | undefined;
  return {
    guid: String(item.guid),
    since: String(item.in_flight_since),
    ...(typeof lease?.owner === 'string' && typeof lease.until === 'number'
      ? { lease: { owner: lease.owner, until: lease.until } }
      : {}),
    ...(typeof item.moving_to === 'string' ? { movingTo: item.moving_to } : {}),
  };
}

/**
 * Every lab in flight since before `before` (ISO-8601), oldest first within each shard, a page of
 * up to `pageSize` at a time. The index is eventually consistent: a lab that just landed may still
 * show, for a moment, which the watch's threshold of minutes makes no matter.
 */
export async function labsInFlightSince(
  table: string,
  before: string,
  pageSize = 100,
): Promise<InFlightLab[]> {
  const labs: InFlightLab[] = [];
  for (let shard = 0; shard < IN_FLIGHT_SHARDS; shard++) {
    for await (const page of queryPages({
      TableName: table,
      IndexName: LABS_IN_FLIGHT,
      KeyConditionExpression: 'in_flight_shard = :shard AND in_flight_since < :before',
      ExpressionAttributeValues: { ':shard': String(shard), ':before': before },
      Limit: pageSize,
    })) {
      labs.push(...(page.Items ?? []).map(inFlightLabOf));
    }
  }
  return labs;
}
