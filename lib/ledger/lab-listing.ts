import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../errors.ts';
import { type LabRecord, type LabState, labFromItem } from './records.ts';
import { dynamo, LABS_BY_STATE, send } from './table.ts';

export interface LabFilters {
  readonly state?: LabState;
  readonly package?: string;
  readonly client?: string;
  readonly target?: string;
  /** ISO-8601: labs whose latest key expiry is before this. */
  readonly expiresBefore?: string;
}

export interface LabPage {
  readonly labs: readonly LabRecord[];
  /** Opaque; undefined on the last page. */
  readonly nextCursor?: string;
}

const STATES: readonly LabState[] = ['provisioning', 'active', 'destroyed'];

/** Where a Query of the labs-by-state index resumes after an item: its table and index keys. */
function indexKeyOf(item: Record<string, unknown>): Record<string, unknown> {
  return { pk: item.pk, sk: item.sk, lab_state: item.lab_state, expires_at: item.expires_at };
}

interface Position {
  /** Index into the states walked. */
  readonly s: number;
  readonly k?: Record<string, unknown>;
}

function encode(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function decode(cursor: string): Position {
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Position;
    if (Number.isInteger(position.s) && (position.k === undefined || typeof position.k === 'object')) {
      return position;
    }
  } catch {
    // reported below
  }
  throw new BadRequestError('cursor is not one this service gave', [
    { field: 'cursor', message: 'must be the next_cursor of an earlier page, unchanged' },
  ]);
}

/**
 * Labs from the ledger, soonest expiry first within each state, `limit` at a time: a Query of the
 * labs-by-state index per state (the expiry bound in the key condition, the other filters applied
 * by DynamoDB), resumed from an opaque cursor.
 */
export async function listLabs(
  table: string,
  filters: LabFilters,
  limit: number,
  cursor?: string,
): Promise<LabPage> {
  const states = filters.state ? [filters.state] : STATES;
  let position: Position = cursor ? decode(cursor) : { s: 0 };
  const labs: LabRecord[] = [];
  const conditions: string[] = [];
  const values: Record<string, unknown> = {};
  const names: Record<string, string> = { '#state': 'lab_state' };
  for (const [field, attribute] of [
    ['package', 'package'],
    ['client', 'client'],
    ['target', 'target'],
  ] as const) {
    const value = filters[field];
    if (value === undefined) continue;
    names[`#${attribute}`] = attribute;
    values[`:${attribute}`] = value;
    conditions.push(`#${attribute} = :${attribute}`);
  }
  while (position.s < states.length && labs.length < limit) {
    const state = states[position.s] as LabState;
    const needed = limit - labs.length;
    const out = await send('Query', () =>
      dynamo().send(
        new QueryCommand({
          TableName: table,
          IndexName: LABS_BY_STATE,
          KeyConditionExpression: `#state = :state${filters.expiresBefore ? ' AND expires_at < :before' : ''}`,
          ...(conditions.length > 0 ? { FilterExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ...values,
            ':state': state,
            ...(filters.expiresBefore ? { ':before': filters.expiresBefore } : {}),
          },
          // One more than the page needs: if it comes back, there is a next page, and the cursor
          // resumes right after the last lab given.
          Limit: needed + 1,
          ExclusiveStartKey: position.k,
        }),
      ),
    );
    const items = out.Items ?? [];
    labs.push(...items.slice(0, needed).map(labFromItem));
    const last = items[needed - 1];
    if (items.length > needed && last) {
      position = { s: position.s, k: indexKeyOf(last) };
      break;
    }
    position = out.LastEvaluatedKey ? { s: position.s, k: out.LastEvaluatedKey } : { s: position.s + 1 };
  }
  return { labs, ...(position.s < states.length ? { nextCursor: encode(position) } : {}) };
}
