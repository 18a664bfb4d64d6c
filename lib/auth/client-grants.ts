/* What an API client may do (scopes) and within which bounds (limits); shared by the authorizer, which reads them from the tokens secret, and the functions, which enforce them. */
import * as z from 'zod/mini';
import { parseDuration } from '../duration.ts';

export const SCOPES = ['provision', 'read', 'read-key', 'extend', 'destroy', 'list', 'all-labs'] as const;
export type Scope = (typeof SCOPES)[number];

/** Bounds on what a client may ask for; an absent limit does not bound. */
export interface ClientLimits {
  /** Packages it may provision. */
  readonly packages?: readonly string[];
  /** Whether it may choose models instead of a package's (true: any the proxy serves), or which. */
  readonly models?: boolean | readonly string[];
  /** The largest budget (USD) a key may have; an unlimited budget exceeds it. */
  readonly max_budget?: number;
  /** Every lab must have a budget (its own or its package's). */
  readonly require_budget?: boolean;
  /** The longest term a key may be given, at provision and by an extension (from now). */
  readonly max_duration?: string;
  /** The most users a multi-user lab may have (a single-user lab counts one). */
  readonly max_users?: number;
  /** The LiteLLM targets it may place labs on. */
  readonly targets?: readonly string[];
  /** The most live labs (provisioning or active) it may hold at once; a replay never counts against it. */
  readonly max_live_labs?: number;
}

const name = z.string().check(z.minLength(1), z.maxLength(256));

export const limitsSchema = z.strictObject({
  packages: z.optional(z.array(name)),
  models: z.optional(z.union([z.boolean(), z.array(name)])),
  max_budget: z.optional(z.number().check(z.gte(0))),
  require_budget: z.optional(z.boolean()),
  max_duration: z.optional(z.string().check(z.refine((text) => parseDuration(text) !== undefined))),
  max_users: z.optional(z.int().check(z.gte(1))),
  targets: z.optional(z.array(name)),
  max_live_labs: z.optional(z.int().check(z.gte(0))),
});

/** Who is asking, as the functions see it: an API client with its grants, or a lab event's source. */
export interface Caller {
  readonly client: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly limits: ClientLimits;
}

/**
 * The authorizer's context for a route's function. HTTP API passes flat string values, so scopes
 * are space-separated (as OAuth writes them) and limits are JSON.
 */
export interface GrantsContext {
  readonly client: string;
  readonly scopes: string;
  readonly limits?: string;
}

export function grantsContext(client: string, scopes: readonly Scope[], limits: ClientLimits): GrantsContext {
  return {
    client,
    scopes: scopes.join(' '),
    ...(Object.keys(limits).length > 0 ? { limits: JSON.stringify(limits) } : {}),
  };
}

/** Lab events come through a bus only RHDP may write to: they act with every scope, unbounded. */
export function labEventCaller(source: string): Caller {
  return { client: `event:${source}`, scopes: new Set(SCOPES), limits: {} };
}

/**
 * The caller of an HTTP route, from the authorizer's context. Fails closed: a context without
 * scopes (whatever client it names) grants none, and limits that cannot be read grant nothing.
 */
export function httpCaller(context: unknown): Caller {
  const grants = (context ?? {}) as Partial<Record<keyof GrantsContext, unknown>>;
  const client = typeof grants.client === 'string' ? grants.client : 'unknown';
  const limits = limitsOf(grants.limits);
  if (!limits) return { client, scopes: new Set(), limits: {} };
  const scopes = new Set(
    (typeof grants.scopes === 'string' ? grants.scopes.split(' ') : []).filter((scope): scope is Scope =>
      (SCOPES as readonly string[]).includes(scope),
    ),
  );
  return { client, scopes, limits };
}

/** The limits, none when absent; undefined when they cannot be read. */
function limitsOf(text: unknown): ClientLimits | undefined {
  if (text === undefined) return {};
  try {
    const parsed = limitsSchema.safeParse(JSON.parse(String(text)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
