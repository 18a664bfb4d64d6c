import type { LabState } from './lab-record.ts';
import { LABS_BY_CLIENT, queryPages } from './table.ts';

/** The states of a lab that holds (or is making) keys: what a client's cap on live labs counts. */
const LIVE_STATES: readonly LabState[] = ['provisioning', 'active'];

/**
 * How many live labs a client holds, counted on its own index (`client_order` begins with the
 * lab's state): a COUNT query per live state, which reads that client's live labs only and
 * returns no item. The index is eventually consistent, so a lab written a moment ago may not be
 * counted yet.
 */
export async function countLiveLabs(table: string, client: string): Promise<number> {
  let count = 0;
  for (const state of LIVE_STATES) {
    for await (const page of queryPages({
      TableName: table,
      IndexName: LABS_BY_CLIENT,
      KeyConditionExpression: 'client = :client AND begins_with(client_order, :state)',
      ExpressionAttributeValues: { ':client': client, ':state': `${state}#` },
      Select: 'COUNT',
    })) {
      count += page.Count ?? 0;
    }
  }
  return count;
}
