/**
 * What an operation cost outside the service, read from the stand-ins' counters: LiteLLM calls,
 * Secrets Manager calls, KMS Encrypt and Decrypt, DynamoDB requests by operation; and the size
 * DynamoDB bills a ledger item at, for the cost figures in docs/cost.md.
 */
import type { Harness } from '../test/support/harness.ts';
import { labsTableDefinition } from '../test/support/stand-ins/dynamodb.ts';

export interface AwsUsage {
  readonly litellm: number;
  readonly secretsManager: number;
  readonly kmsEncrypt: number;
  readonly kmsDecrypt: number;
  /** Every DynamoDB request, whatever its operation. */
  readonly dynamodb: number;
  readonly dynamodbByOperation: Readonly<Record<string, number>>;
}

/** The stand-ins a count covers; the targets bench adds its second LiteLLM. */
type Counted = Pick<Harness, 'litellm' | 'secrets' | 'kms' | 'ledger'>;

export function resetUsage(h: Counted): void {
  h.litellm.resetCounters();
  h.secrets.resetCounters();
  h.ledger.resetCounters();
  // The KMS stand-in's reset would also end its faults; the benches set none, but clear only the counts.
  h.kms.calls.clear();
}

export function usage(h: Counted): AwsUsage {
  return {
    litellm: h.litellm.callCount(),
    secretsManager: h.secrets.callCount(),
    kmsEncrypt: h.kms.callCount('Encrypt'),
    kmsDecrypt: h.kms.callCount('Decrypt'),
    dynamodb: h.ledger.callCount(),
    dynamodbByOperation: Object.fromEntries(h.ledger.calls),
  };
}

/** Count what `run` costs, from counters reset just before it. */
export async function measured<T>(h: Counted, run: () => Promise<T>): Promise<AwsUsage & { result: T }> {
  resetUsage(h);
  const result = await run();
  return { ...usage(h), result };
}

export const kmsCalls = (u: Pick<AwsUsage, 'kmsEncrypt' | 'kmsDecrypt'>) => u.kmsEncrypt + u.kmsDecrypt;

/** "4 (GetItem 1, PutItem 2, UpdateItem 1)". */
export function dynamoDetail(u: Pick<AwsUsage, 'dynamodb' | 'dynamodbByOperation'>): string {
  const parts = Object.entries(u.dynamodbByOperation)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([operation, count]) => `${operation} ${count}`);
  return parts.length > 0 ? `${u.dynamodb} (${parts.join(', ')})` : '0';
}

/** "1 Encrypt", "2 Decrypt", "1 Encrypt + 1 Decrypt", "0". */
export function kmsDetail(u: Pick<AwsUsage, 'kmsEncrypt' | 'kmsDecrypt'>): string {
  const parts = [
    ...(u.kmsEncrypt > 0 ? [`${u.kmsEncrypt} Encrypt`] : []),
    ...(u.kmsDecrypt > 0 ? [`${u.kmsDecrypt} Decrypt`] : []),
  ];
  return parts.length > 0 ? parts.join(' + ') : '0';
}

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** A number's size by DynamoDB's rule: a byte per two significant digits, plus one. */
function numberBytes(value: number): number {
  const digits = String(Math.abs(value))
    .replace(/e.*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number') return numberBytes(value);
  if (value === null || typeof value === 'boolean' || value === undefined) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  // Lists and maps: 3 bytes, and 1 byte for each element besides its own size (a map's names count too).
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, entry) => sum + 1 + valueBytes(entry), 0);
  return (
    3 +
    Object.entries(value as Record<string, unknown>).reduce(
      (sum, [name, entry]) => sum + 1 + utf8(name) + valueBytes(entry),
      0,
    )
  );
}

/**
 * An item's size as DynamoDB bills its reads and writes ("DynamoDB item sizes and formats" in the
 * DynamoDB Developer Guide): attribute names and values, lists and maps 3 bytes plus 1 per element.
 * Storage adds 100 bytes per item on top.
 */
export function itemBytes(item: Record<string, unknown>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueBytes(value), 0);
}

/** Write request units for a write of an item this size (1 per KB started). */
export const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
/** Read request units for a strongly consistent read of an item this size (1 per 4 KB started). */
export const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096));

/** The lab's ledger item as stored, and its billed size. */
export async function ledgerItem(h: Pick<Harness, 'ledger'>, guid: string) {
  const { lab, keys } = await h.ledger.lab(guid);
  if (!lab) throw new Error(`no ledger item for lab ${guid}`);
  const sealed = keys.map((key) => String(key.sealed ?? ''));
  return {
    bytes: itemBytes(lab),
    keys: keys.length,
    /** Characters of one sealed value (base64 of the KMS ciphertext). */
    sealedChars: sealed.length > 0 ? Math.max(...sealed.map((text) => text.length)) : 0,
  };
}

type Item = Record<string, unknown>;

/** One index of the ledger table as resources/labs-table.yml declares it. */
export interface IndexDefinition {
  readonly name: string;
  readonly keys: readonly string[];
  /** Non-key attributes it projects (INCLUDE). */
  readonly projected: readonly string[];
}

/** The ledger's global secondary indexes, read from the table's one description. */
export function ledgerIndexes(): IndexDefinition[] {
  const definition = labsTableDefinition('ledger');
  return (definition.GlobalSecondaryIndexes ?? []).map((index) => ({
    name: String(index.IndexName),
    keys: (index.KeySchema ?? []).map((key) => String(key.AttributeName)),
    projected: index.Projection?.NonKeyAttributes ?? [],
  }));
}

const TABLE_KEYS = ['pk', 'sk'];

/** The entry an item has in an index (its keys and projected attributes), or none when it lacks an index key. */
function indexEntry(item: Item | undefined, index: IndexDefinition): Item | undefined {
  if (!item || index.keys.some((key) => item[key] === undefined)) return undefined;
  const names = [...TABLE_KEYS, ...index.keys, ...index.projected];
  return Object.fromEntries(
    names.filter((name) => item[name] !== undefined).map((name) => [name, item[name]]),
  );
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The billed size of the item's entry in each index (0 where it has none). */
export function indexEntryBytes(item: Item | undefined, indexes: readonly IndexDefinition[]) {
  return Object.fromEntries(
    indexes.map((index) => {
      const entry = indexEntry(item, index);
      return [index.name, entry ? itemBytes(entry) : 0];
    }),
  );
}

/**
 * Write request units one write costs, table and indexes: the table by the larger of the item's
 * sizes before and after; each index by its entry's size, 1 write when the entry appears, goes or
 * changes, 2 when its index key changes (the old entry deleted, the new one written), none when
 * nothing it holds changed (the DynamoDB Developer Guide's rules for global secondary indexes).
 */
export function writeCost(
  before: Item | undefined,
  after: Item | undefined,
  indexes: readonly IndexDefinition[],
): { table: number; indexes: number } {
  const table = writeUnits(Math.max(before ? itemBytes(before) : 0, after ? itemBytes(after) : 0));
  let index = 0;
  for (const definition of indexes) {
    const old = indexEntry(before, definition);
    const now = indexEntry(after, definition);
    if (!old && !now) continue;
    if (old && now && same(old, now)) continue;
    const keyChanged = old && now && definition.keys.some((key) => !same(old[key], now[key]));
    if (old && now && !keyChanged) index += writeUnits(itemBytes(now));
    else index += (old ? writeUnits(itemBytes(old)) : 0) + (now ? writeUnits(itemBytes(now)) : 0);
  }
  return { table, indexes: index };
}

/**
 * The lab's item before each write `run` makes to the ledger, and after the last: read (from the
 * stand-in, directly) just before the stand-in serves each PutItem and UpdateItem. The reads go
 * through the stand-in too: measure calls in a run of its own, not this one.
 */
export async function itemImages(h: Pick<Harness, 'ledger'>, guid: string, run: () => Promise<unknown>) {
  const images: (Item | undefined)[] = [];
  let capturing = true;
  const capture = (operation: string) => {
    h.ledger.beforeNext(operation, async () => {
      images.push((await h.ledger.lab(guid)).lab);
      if (capturing) capture(operation);
    });
  };
  capture('PutItem');
  capture('UpdateItem');
  await run();
  capturing = false;
  // The hooks still waiting would read once more at the next writes: replace them with ones that do nothing.
  for (const operation of ['PutItem', 'UpdateItem']) h.ledger.beforeNext(operation, async () => undefined);
  images.push((await h.ledger.lab(guid)).lab);
  return images;
}

/** What the writes between consecutive images cost, summed. */
export function imagesCost(images: readonly (Item | undefined)[], indexes: readonly IndexDefinition[]) {
  let table = 0;
  let index = 0;
  let writes = 0;
  for (let i = 1; i < images.length; i++) {
    // Every write of the lab bumps its version: an unchanged image was taken for a write to another item.
    if (same(images[i - 1], images[i])) continue;
    writes++;
    const cost = writeCost(images[i - 1], images[i], indexes);
    table += cost.table;
    index += cost.indexes;
  }
  return { writes, table, indexes: index };
}
