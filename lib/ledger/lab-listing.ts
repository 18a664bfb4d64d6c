import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../errors.ts';
import type { LabState } from './lab-record.ts';
import { dynamo, LABS_BY_CLIENT, LABS_BY_STATE, send } from './table.ts';

export interface LabFilters {
  readonly state?: LabState;
  readonly package?: string;
  /** Read through the client's own index: a page costs reads of that page, whatever other clients hold. */
  readonly client?: string;
  readonly target?: string;
  /** ISO-8601: labs whose latest key expiry is before this. */
  readonly expiresBefore?: string;
}

/** A lab as the listing indexes project it: summaries, never a key or its sealed value. */
export interface LabSummary {
  readonly guid: string;
  readonly state: LabState;
  readonly package?: string;
  readonly users?: readonly string[];
  readonly expiresAt?: string;
  readonly createdAt?: string;
  readonly client?: string;
  readonly target?: string;
  readonly destroyedAt?: string;
}

export interface LabPage {
  readonly labs: readonly LabSummary[];
  /** Opaque; undefined on the last page. */
  readonly nextCursor?: string;
}

const STATES: readonly LabState[] = ['provisioning', 'active', 'expired', 'destroyed'];

function summaryOf(item: Record<string, unknown>): LabSummary {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const users = Array.isArray(item.users) ? item.users.filter((user) => typeof user === 'string') : undefined;
  const fields = {
    package: text(item.package),
    users,
    expiresAt: text(item.expires_at),
    createdAt: text(item.created_at),
    client: text(item.client),
    target: text(item.target),
    destroyedAt: text(item.destroyed_at),
  };
  return {
    guid: String(item.guid),
    state: item.lab_state as LabState,
    ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
  };
}

interface Position {
  /** Index into the queries walked. */
  readonly s: number;
  readonly k?: Record<string, unknown>;
}

function encode(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** A cursor this listing gave: a query of its walk, and an index position of string attributes. */
function decode(cursor: string, queries: number): Position {
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Position;
    const key = position.k;
    const keyOk =
      key === undefined ||
      (typeof key === 'object' &&
        key !== null &&
        Object.entries(key).every(([name, value]) => KEY_ATTRIBUTES.has(name) && typeof value === 'string'));
    if (Number.isInteger(position.s) && position.s >= 0 && position.s < queries && keyOk) return position;
  } catch {
    // reported below
  }
  throw new BadRequestError('cursor is not one this service gave', [
    { field: 'cursor', message: 'must be the next_cursor of an earlier page, unchanged' },
  ]);
}

/** The attributes an index position names: the table's key and the listing indexes' keys. */
const KEY_ATTRIBUTES = new Set(['pk', 'sk', 'client', 'client_order', 'lab_state', 'expires_at']);

/** One Query of an index: its key condition, and where a page resumes after an item. */
interface IndexQuery {
  readonly index: string;
  readonly condition: string;
  readonly values: Record<string, unknown>;
  readonly resumeAfter: (item: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * The queries a listing walks, in order. A client's labs come from its own index (state, then
 * expiry, in its sort key); all labs from the state index, a state at a time.
 */
function queriesFor(filters: LabFilters): IndexQuery[] {
  const before = filters.expiresBefore;
  if (filters.client !== undefined) {
    const prefix = filters.state ? `${filters.state}#` : '';
    return [
      {
        index: LABS_BY_CLIENT,
        condition:
          filters.state && before
            ? 'client = :client AND client_order BETWEEN :from AND :to'
            : filters.state
              ? 'client = :client AND begins_with(client_order, :from)'
              : 'client = :client',
        values: {
          ':client': filters.client,
          ...(filters.state ? { ':from': prefix } : {}),
          ...(filters.state && before ? { ':to': `${prefix}${before}` } : {}),
        },
        resumeAfter: (item) => ({
          pk: item.pk,
          sk: item.sk,
          client: item.client,
          client_order: item.client_order,
        }),
      },
    ];
  }
  return (filters.state ? [filters.state] : STATES).map((state) => ({
    index: LABS_BY_STATE,
    condition: `lab_state = :state${before ? ' AND expires_at < :before' : ''}`,
    values: { ':state': state, ...(before ? { ':before': before } : {}) },
    resumeAfter: (item) => ({
      pk: item.pk,
      sk: item.sk,
      lab_state: item.lab_state,
      expires_at: item.expires_at,
    }),
  }));
}

/** Filters no index key covers, applied by DynamoDB to what the query reads. */
function remainingFilters(filters: LabFilters) {
  const conditions: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const [field, attribute] of [
    ['package', 'package'],
    ['target', 'target'],
  ] as const) {
    const value = filters[field];
    if (value === undefined) continue;
    names[`#${attribute}`] = attribute;
    values[`:${attribute}`] = value;
    conditions.push(`#${attribute} = :${attribute}`);
  }
  if (filters.client !== undefined && filters.expiresBefore && !filters.state) {
    values[':before'] = filters.expiresBefore;
    conditions.push('expires_at < :before');
  }
  return { conditions, names, values };
}

/** Labs from the ledger, `limit` at a time, resumed from an opaque cursor. */
export async function listLabs(
  table: string,
  filters: LabFilters,
  limit: number,
  cursor?: string,
): Promise<LabPage> {
  const queries = queriesFor(filters);
  const rest = remainingFilters(filters);
  let position: Position = cursor ? decode(cursor, queries.length) : { s: 0 };
  const labs: LabSummary[] = [];
  while (position.s < queries.length && labs.length < limit) {
    const query = queries[position.s] as IndexQuery;
    const needed = limit - labs.length;
    const out = await send('Query', () =>
      dynamo().send(
        new QueryCommand({
          TableName: table,
          IndexName: query.index,
          KeyConditionExpression: query.condition,
          ...(rest.conditions.length > 0 ? { FilterExpression: rest.conditions.join(' AND ') } : {}),
          ...(Object.keys(rest.names).length > 0 ? { ExpressionAttributeNames: rest.names } : {}),
          ExpressionAttributeValues: { ...rest.values, ...query.values },
          // One more than the page needs: if it comes back, there is a next page, and the cursor
          // resumes right after the last lab given.
          Limit: needed + 1,
          ExclusiveStartKey: position.k,
        }),
      ),
    );
    const items = out.Items ?? [];
    labs.push(...items.slice(0, needed).map(summaryOf));
    const last = items[needed - 1];
    if (items.length > needed && last) {
      position = { s: position.s, k: query.resumeAfter(last) };
      break;
    }
    position = out.LastEvaluatedKey ? { s: position.s, k: out.LastEvaluatedKey } : { s: position.s + 1 };
  }
  return { labs, ...(position.s < queries.length ? { nextCursor: encode(position) } : {}) };
}
