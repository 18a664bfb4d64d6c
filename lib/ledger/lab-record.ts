import { createHash } from 'node:crypto';

export type LabState = 'provisioning' | 'active' | 'expired' | 'destroyed';

/**
 * Where a key stands between the ledger and LiteLLM. Each is recorded before the LiteLLM call it
 * announces: `intended` before /key/generate (its value sealed, its id known), `deleting` before
 * /key/delete; `live` once LiteLLM has shown the key.
 */
export type KeyStatus = 'intended' | 'live' | 'deleting';

/** A key of a lab, as the ledger records it. Times are ISO-8601 UTC. */
export interface LabKey {
  readonly alias: string;
  /** The lab user it is for; undefined for a single-user lab's key. */
  readonly user?: string;
  /** The LiteLLM proxy holding it (a move records keys on two for a while). */
  readonly target: string;
  /** LiteLLM's token: the sha256 of the value. */
  readonly keyId: string;
  /**
   * The value, sealed with KMS under {target, guid, alias, key id}; absent for a key the Ansible
   * role made and this service took over (lib/role-made/): its value was never ours to keep.
   */
  readonly sealed?: string;
  readonly status: KeyStatus;
  readonly package: string;
  readonly expiresAt?: string;
  /** When its /key/generate was first announced. */
  readonly createdAt: string;
  /** The expiry last warned about (`Virtual Key Expiring`). */
  readonly warnedExpiry?: string;
  /**
   * The proxy's release when the key was made, where known: LiteLLM does not backfill a key's
   * lifetime `total_spend` for keys made before the proxy had it (see lab/key-spend.ts).
   */
  readonly madeOn?: string;
}

/**
 * A key deleted (or never confirmed) whose /key/generate may still land late: looked for again,
 * and deleted if LiteLLM shows it, until `until` (its intent's time plus the reconciliation grace).
 */
export interface Recheck {
  readonly alias: string;
  readonly target: string;
  readonly keyId: string;
  readonly until: string;
}

/** One lab: everything the service knows of it, in one ledger item. */
export interface Lab {
  readonly guid: string;
  /** Bumped by every write: a write names the version it read, so no write is lost or stale. */
  readonly version: number;
  readonly lease?: { readonly owner: string; readonly until: number };
  /** Counts provisions after a destroy; 0 for a lab never provisioned. */
  readonly generation: number;
  /** Undefined for a lab never provisioned nor destroyed. */
  readonly state?: LabState;
  /** The API client (or lab event source) that started the current generation: its owner. */
  readonly client?: string;
  readonly package?: string;
  readonly models?: readonly string[];
  readonly maxBudget?: number | null;
  readonly duration?: string;
  readonly userId?: string;
  /** Multi-user labs: every user; undefined for a single-user lab. */
  readonly users?: readonly string[];
  /** The LiteLLM proxy the lab is on. */
  readonly target?: string;
  /** Its keys were made by the Ansible role and taken over during the cut-over (lib/role-made/). */
  readonly roleMade?: boolean;
  /** A move under way: keys may exist on this target too. */
  readonly movingTo?: string;
  /**
   * When the lab went in flight: its lease taken, or a move begun, while it was neither leased nor
   * moving (ISO-8601). Kept while a lease (even a lapsed one) or a move remains, so one that has
   * lasted too long marks an operation that died or hangs (the in-flight watch, lib/watch/).
   */
  readonly inFlightSince?: string;
  /** Where the last finished move came from. */
  readonly movedFrom?: string;
  /** Lifecycle time (the event's `time`, or the request's arrival) of the provision that started the generation. */
  readonly startedAt?: string;
  /** When this service started the generation. */
  readonly createdAt?: string;
  /** Lifecycle time of the last change applied. */
  readonly lastEventAt?: string;
  readonly destroyedAt?: string;
  readonly destroyedKeys?: number;
  readonly totalSpend?: number;
  /** An extend announced (the expiry it sets) whose /key/update may not have answered. */
  readonly extending?: string;
  /** The latest expiry its keys on its target had when last written; kept once they are gone. */
  readonly lastExpiry?: string;
  readonly keys: readonly LabKey[];
  readonly rechecks: readonly Recheck[];
}

/** A lab the ledger has never seen. */
export function blankLab(guid: string): Lab {
  return { guid, version: 0, generation: 0, keys: [], rechecks: [] };
}

type Item = Record<string, unknown>;

/** How one field is kept in the item: its attribute name, and how it is read back. */
interface Field<T> {
  readonly attribute: string;
  readonly read: (value: unknown) => T | undefined;
  readonly write?: (value: T) => unknown;
}

const text = (attribute: string): Field<string> => ({
  attribute,
  read: (value) => (typeof value === 'string' ? value : undefined),
});
const number = (attribute: string): Field<number> => ({
  attribute,
  read: (value) => (typeof value === 'number' ? value : undefined),
});
const texts = (attribute: string): Field<readonly string[]> => ({
  attribute,
  read: (value) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined,
});
const flag = (attribute: string): Field<boolean> => ({
  attribute,
  read: (value) => (value === true ? true : undefined),
});
const nullableNumber = (attribute: string): Field<number | null> => ({
  attribute,
  read: (value) => (value === null ? null : typeof value === 'number' ? value : undefined),
});
function records<T extends object>(attribute: string, fields: Fields<T>): Field<readonly T[]> {
  return {
    attribute,
    read: (value) => (Array.isArray(value) ? value.map((entry) => readFields(fields, entry as Item)) : []),
    write: (value) => value.map((entry) => writeFields(fields, entry)),
  };
}

type Fields<T> = { readonly [K in keyof T]-?: Field<Exclude<T[K], undefined>> };

function readFields<T>(fields: Fields<T>, item: Item): T {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields) as [string, Field<unknown>][]) {
    const value = field.read(item[field.attribute]);
    if (value !== undefined) out[name] = value;
  }
  return out as T;
}

function writeFields<T>(fields: Fields<T>, record: T): Item {
  const out: Item = {};
  for (const [name, field] of Object.entries(fields) as [string, Field<unknown>][]) {
    const value = (record as Record<string, unknown>)[name];
    if (value !== undefined) out[field.attribute] = field.write ? field.write(value) : value;
  }
  return out;
}

const KEY_FIELDS: Fields<LabKey> = {
  alias: text('alias'),
  user: text('user'),
  target: text('target'),
  keyId: text('key_id'),
  sealed: text('sealed'),
  status: text('status') as Field<KeyStatus>,
  package: text('package'),
  expiresAt: text('expires_at'),
  createdAt: text('created_at'),
  warnedExpiry: text('warned_expiry'),
  madeOn: text('made_on'),
};

const RECHECK_FIELDS: Fields<Recheck> = {
  alias: text('alias'),
  target: text('target'),
  keyId: text('key_id'),
  until: text('until'),
};

const LEASE: Field<{ owner: string; until: number }> = {
  attribute: 'lease',
  read: (value) => {
    const lease = value as { owner?: unknown; until?: unknown } | undefined;
    return typeof lease?.owner === 'string' && typeof lease.until === 'number'
      ? { owner: lease.owner, until: lease.until }
      : undefined;
  },
};

/** The lab item's one declaration: every field, its attribute and its reading. */
const LAB_FIELDS: Fields<Lab> = {
  guid: text('guid'),
  version: number('version'),
  lease: LEASE,
  generation: number('generation'),
  state: text('lab_state') as Field<LabState>,
  client: text('client'),
  package: text('package'),
  models: texts('models'),
  maxBudget: nullableNumber('max_budget'),
  duration: text('duration'),
  userId: text('user_id'),
  users: texts('users'),
  target: text('target'),
  roleMade: flag('role_made'),
  movingTo: text('moving_to'),
  inFlightSince: text('in_flight_since'),
  movedFrom: text('moved_from'),
  startedAt: text('started_at'),
  createdAt: text('created_at'),
  lastEventAt: text('last_event_at'),
  destroyedAt: text('destroyed_at'),
  destroyedKeys: number('destroyed_keys'),
  totalSpend: number('total_spend'),
  extending: text('extending'),
  lastExpiry: text('expires_at'),
  keys: records('keys', KEY_FIELDS),
  rechecks: records('rechecks', RECHECK_FIELDS),
};

/** Where a lab item lives; META items (cursors) share the table. */
export const labItemKey = (guid: string) => ({ pk: `LAB#${guid}`, sk: 'LAB' });

/** Live keys of the sweep's index are spread over this many partitions. */
export const SWEEP_SHARDS = 8;
/**
 * How long a destroyed lab's tombstone is kept, from its destroy (or from when it was written, if
 * later): longer than a lab event can wait (a day of retries, then 14 days parked), so none
 * outlives the tombstone that makes it stale.
 */
export const TOMBSTONE_DAYS = 16;

/**
 * Labs in flight are spread over this many partitions of their index too: a workshop's burst takes
 * and gives back a thousand leases at once, more than one partition of an index takes a second.
 */
export const IN_FLIGHT_SHARDS = 8;

function shardOf(guid: string, shards: number): string {
  return String(createHash('sha256').update(guid).digest().readUInt8(0) % shards);
}

/** The in-flight index's partition of a lab, present only while `in_flight_since` is. */
export const inFlightShard = (guid: string) => shardOf(guid, IN_FLIGHT_SHARDS);

/** In flight: leased (a lapsed lease too: its holder may have died) or moving. */
export const isInFlight = (lab: Lab) => lab.lease !== undefined || lab.movingTo !== undefined;

const earliest = (times: readonly (string | undefined)[]) =>
  times.filter((time): time is string => time !== undefined).sort()[0];
const latest = (times: readonly (string | undefined)[]) =>
  times
    .filter((time): time is string => time !== undefined)
    .sort()
    .at(-1);

/** Epoch seconds of `time`, or of now if it is earlier (or absent): a TTL never starts in the past. */
const secondsFrom = (time?: string) => Math.ceil(Math.max(time ? Date.parse(time) : 0, Date.now()) / 1000);

/** The lab's keys LiteLLM holds (or may, mid-call) on its own target. */
export function keysOnTarget(lab: Lab, target = lab.target): LabKey[] {
  return lab.keys.filter((key) => key.target === target);
}

/**
 * The attributes derived from the record, recomputed on every write so the indexes never drift:
 * the latest expiry (GET /keys; kept as the lab's last once its keys are gone), the client's
 * order, the sweep's due time (the earliest expiry or recheck), warning time, live keys and
 * targets (for the nightly reconciliation), the in-flight index's partition, and the TTL of a
 * tombstone or of a lease-only item.
 */
function derived(lab: Lab): Item {
  const live = lab.keys.filter((key) => key.status === 'live');
  // Every lab with a state is in the state index: the last expiry it had, else when it began or ended.
  const expiresAt =
    latest(keysOnTarget(lab).map((key) => key.expiresAt)) ??
    lab.lastExpiry ??
    lab.createdAt ??
    lab.destroyedAt;
  const sweepAt = earliest([...lab.keys.map((key) => key.expiresAt), ...lab.rechecks.map((r) => r.until)]);
  const warnAt = earliest(
    live.filter((key) => key.warnedExpiry !== key.expiresAt).map((key) => key.expiresAt),
  );
  const state = lab.state ?? 'none';
  return {
    ...(expiresAt ? { expires_at: expiresAt } : {}),
    ...(lab.client ? { client_order: `${state}#${expiresAt ?? ''}#${lab.guid}` } : {}),
    ...(sweepAt ? { sweep_shard: shardOf(lab.guid, SWEEP_SHARDS), sweep_at: sweepAt } : {}),
    ...(lab.inFlightSince ? { in_flight_shard: inFlightShard(lab.guid) } : {}),
    ...(warnAt ? { warn_at: warnAt } : {}),
    ...(live.length > 0 ? { key_refs: live.map((key) => `${key.target} ${key.keyId}`) } : {}),
    ...(sweepAt
      ? { sweep_targets: [...new Set([...lab.keys, ...lab.rechecks].map((entry) => entry.target))] }
      : {}),
    ...(lab.state === 'destroyed' ? { ttl: secondsFrom(lab.destroyedAt) + TOMBSTONE_DAYS * 86_400 } : {}),
    // An item only a refused request's lease made: gone in a day, unless a lab starts there.
    ...(lab.state === undefined && lab.keys.length === 0 && lab.rechecks.length === 0
      ? { ttl: secondsFrom() + 86_400 }
      : {}),
  };
}

/** The item for a lab: its fields as declared, and what the indexes need. */
export function labToItem(lab: Lab): Item {
  return { ...labItemKey(lab.guid), ...writeFields(LAB_FIELDS, lab), ...derived(lab) };
}

export function labFromItem(item: Item): Lab {
  const lab = readFields(LAB_FIELDS, item);
  return { ...blankLab(String(item.guid)), ...lab };
}
