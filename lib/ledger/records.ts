import { createHash } from 'node:crypto';
import { SWEEP_SHARDS } from './table.ts';

export type LabState = 'provisioning' | 'active' | 'destroyed';

/** What the ledger holds of a lab, as the service reads it. Times are ISO-8601 UTC. */
export interface LabRecord {
  readonly guid: string;
  /** Undefined for an item that only ever held a lease (nothing was provisioned or destroyed). */
  readonly state?: LabState;
  /** Multi-user labs: every user the lab has keys for; undefined for a single-user lab. */
  readonly users?: readonly string[];
  readonly package?: string;
  readonly models?: readonly string[];
  readonly maxBudget?: number | null;
  readonly duration?: string;
  readonly userId?: string;
  /** The LiteLLM proxy the lab's keys live on. */
  readonly target?: string;
  /** A move under way, before it commits: new keys may exist on this target too. */
  readonly movingTo?: string;
  /** A move committed (the lab is on `target`) whose old keys on this target may still exist. */
  readonly movingFrom?: string;
  /** The API client (or lab event source) that provisioned it. */
  readonly client?: string;
  /** When this service first provisioned the lab's current keys. */
  readonly createdAt?: string;
  /** Lifecycle time (the event's `time`, or the request's arrival) of the provision that started them. */
  readonly startedAt?: string;
  /** Lifecycle time of the last change applied (provision, extend or destroy). */
  readonly lastEventAt?: string;
  /** The latest expiry among the lab's keys. */
  readonly expiresAt?: string;
  /** Lifecycle time of the destroy; kept with the tombstone. */
  readonly destroyedAt?: string;
  /** Keys deleted by the destroy, and what they had spent. */
  readonly destroyedKeys?: number;
  readonly totalSpend?: number;
  /** Found in LiteLLM and Secrets Manager (made before the ledger) and recorded on first touch. */
  readonly adopted?: boolean;
  readonly lease?: { readonly owner: string; readonly until: number };
  /** Counts the lab's changes: one per release of its lease. */
  readonly revision?: number;
}

/** One key of a lab, live in LiteLLM. */
export interface KeyEntry {
  readonly guid: string;
  /** The LiteLLM target holding it; keys recorded before targets existed are on `default`. */
  readonly target?: string;
  readonly alias: string;
  readonly user?: string;
  /** LiteLLM's token: the sha256 of the raw key. */
  readonly keyId: string;
  readonly secretName: string;
  readonly package: string;
  readonly expiresAt?: string;
  readonly createdAt: string;
  /** The expiry last warned about (`Virtual Key Expiring`). */
  readonly warnedExpiry?: string;
  /** Held by a sweep deleting it: an extend waits for the outcome. */
  readonly sweepClaim?: { readonly owner: string; readonly until: number };
}

export interface LedgerLab {
  readonly lab?: LabRecord;
  readonly keys: readonly KeyEntry[];
}

type Item = Record<string, unknown>;

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
const num = (value: unknown) => (typeof value === 'number' ? value : undefined);
const strings = (value: unknown) =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;

function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

export function labFromItem(item: Item): LabRecord {
  const owner = str(item.lease_owner);
  const until = num(item.lease_until);
  return defined({
    guid: String(item.guid),
    state: str(item.lab_state) as LabState | undefined,
    users: strings(item.users),
    package: str(item.package),
    models: strings(item.models),
    maxBudget: item.max_budget === null ? null : num(item.max_budget),
    duration: str(item.duration),
    userId: str(item.user_id),
    target: str(item.target),
    movingTo: str(item.moving_to),
    movingFrom: str(item.moving_from),
    client: str(item.client),
    createdAt: str(item.created_at),
    startedAt: str(item.started_at),
    lastEventAt: str(item.last_event_at),
    expiresAt: str(item.expires_at),
    destroyedAt: str(item.destroyed_at),
    destroyedKeys: num(item.destroyed_keys),
    totalSpend: num(item.total_spend),
    adopted: item.adopted === true ? true : undefined,
    lease: owner && until !== undefined ? { owner, until } : undefined,
    revision: num(item.revision),
  });
}

export function keyFromItem(item: Item): KeyEntry {
  const owner = str(item.sweep_owner);
  const until = num(item.sweep_until);
  return defined({
    guid: String(item.guid),
    target: str(item.target),
    alias: String(item.alias),
    user: str(item.user),
    keyId: String(item.key_id),
    secretName: String(item.secret_name),
    package: str(item.package) ?? 'unknown',
    expiresAt: str(item.expires_at),
    createdAt: String(item.created_at),
    warnedExpiry: str(item.warned_expiry),
    sweepClaim: owner && until !== undefined ? { owner, until } : undefined,
  });
}

/** The expiry index partition of a key: spread by alias so no one partition takes every write. */
export function sweepShard(alias: string): string {
  return String(createHash('sha256').update(alias).digest().readUInt8(0) % SWEEP_SHARDS);
}

/** A key item: the expiry index attributes only while it has an expiry. */
export function keyToItem(entry: KeyEntry): Item {
  return defined({
    guid: entry.guid,
    target: entry.target,
    alias: entry.alias,
    user: entry.user,
    key_id: entry.keyId,
    secret_name: entry.secretName,
    package: entry.package,
    expires_at: entry.expiresAt,
    created_at: entry.createdAt,
    warned_expiry: entry.warnedExpiry,
    ...(entry.expiresAt ? { sweep_shard: sweepShard(entry.alias), sweep_at: entry.expiresAt } : {}),
  });
}
