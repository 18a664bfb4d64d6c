import { createHash, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import { log } from '../log.ts';
import { type ClientLimits, limitsSchema, SCOPES, type Scope } from './client-grants.ts';

/** Shorter tokens are ignored: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

export interface ApiToken {
  readonly client: string;
  readonly digest: Buffer;
  readonly scopes: readonly Scope[];
  readonly limits: ClientLimits;
}

export interface ApiTokens {
  readonly tokens: readonly ApiToken[];
  /** Entries that cannot be used, each as `client (why)`; named in a warning, never the token. */
  readonly ignored: readonly string[];
}

const digestOf = (token: string) => createHash('sha256').update(token, 'utf8').digest();

const tokenSchema = z.string().check(
  z.minLength(MIN_TOKEN_LENGTH),
  z.refine((token) => !/\s/.test(token)),
);

/**
 * A scoped client: its tokens (`token`, `tokens` or both: several are valid at once, so a token is
 * rotated under the same client name), what it may do, and within which limits.
 */
const scopedEntrySchema = z.strictObject({
  token: z.optional(tokenSchema),
  tokens: z.optional(z.array(tokenSchema)),
  scopes: z.array(z.enum(SCOPES)),
  limits: z.optional(limitsSchema),
});

/** The paths of an entry's faults, never its values (one of them is a token). */
function faultPaths(error: z.core.$ZodError): string[] {
  return error.issues.map((issue) => issue.path.map(String).join('.') || 'entry');
}

const PLAIN_FAULT = `token shorter than ${MIN_TOKEN_LENGTH} characters or with spaces`;

/** One client's entry: its tokens and grants, or why it grants nothing. */
function readEntry(
  entry: unknown,
): { tokens: string[]; scopes: readonly Scope[]; limits: ClientLimits } | string {
  // A plain token, or several: every scope, no limits (what every client had before scopes existed).
  if (typeof entry === 'string' || (Array.isArray(entry) && entry.length > 0)) {
    const tokens = z.array(tokenSchema).safeParse([entry].flat());
    return tokens.success ? { tokens: tokens.data, scopes: SCOPES, limits: {} } : PLAIN_FAULT;
  }
  const scoped = scopedEntrySchema.safeParse(entry);
  const data = scoped.success ? scoped.data : undefined;
  const tokens = data ? [...(data.token === undefined ? [] : [data.token]), ...(data.tokens ?? [])] : [];
  const tokenless =
    typeof entry === 'object' && entry !== null && !('token' in entry) && !('tokens' in entry);
  const faults = [
    ...(tokenless || (data && tokens.length === 0) ? ['token'] : []),
    ...(scoped.success ? [] : faultPaths(scoped.error)),
  ];
  if (!data || faults.length > 0) return [...new Set(faults)].join(', ');
  return { tokens, scopes: [...new Set(data.scopes)], limits: data.limits ?? {} };
}

/**
 * A token listed under two clients would make its owner a matter of order: it grants nothing, and
 * the warning names the clients (never the token). Listed twice under one client, it counts once.
 */
function withoutSharedTokens(tokens: readonly ApiToken[]): { tokens: ApiToken[]; shared: string[] } {
  const clientsOf = new Map<string, Set<string>>();
  for (const token of tokens) {
    const hex = token.digest.toString('hex');
    clientsOf.set(hex, (clientsOf.get(hex) ?? new Set()).add(token.client));
  }
  const shared = [...clientsOf.values()]
    .filter((clients) => clients.size > 1)
    .map((clients) => `a token listed under clients ${[...clients].join(' and ')} (one token, one client)`);
  const seen = new Set<string>();
  const kept = tokens.filter((token) => {
    const hex = token.digest.toString('hex');
    if ((clientsOf.get(hex)?.size ?? 0) > 1 || seen.has(hex)) return false;
    seen.add(hex);
    return true;
  });
  return { tokens: kept, shared: [...new Set(shared)] };
}

/**
 * The API tokens secret as middy hands it over (parsed JSON): `{"client-name": entry, ...}`, each
 * entry a plain token or a list of them (every scope, no limits), or
 * `{"token"?, "tokens"?, "scopes", "limits"?}`. All tokens of a client act as that client (its
 * labs stay its own), so a token is rotated by adding the new one to the client first. An
 * unusable entry, and a token two clients share, grant nothing.
 */
export function parseApiTokens(secret: unknown): ApiTokens {
  if (typeof secret !== 'object' || secret === null || Array.isArray(secret)) {
    return { tokens: [], ignored: ['(the secret is not a JSON object)'] };
  }
  const tokens: ApiToken[] = [];
  const ignored: string[] = [];
  for (const [client, entry] of Object.entries(secret)) {
    // Lab events act as `event:<source>`; a client by that name would own their labs.
    if (client.startsWith('event:')) {
      ignored.push(`${client} (names beginning "event:" are the lab events')`);
      continue;
    }
    const read = readEntry(entry);
    if (typeof read === 'string') {
      ignored.push(`${client} (${read})`);
      continue;
    }
    for (const token of read.tokens) {
      tokens.push({ client, digest: digestOf(token), scopes: read.scopes, limits: read.limits });
    }
  }
  const distinct = withoutSharedTokens(tokens);
  return { tokens: distinct.tokens, ignored: [...ignored, ...distinct.shared] };
}

/**
 * The entry a presented token belongs to. Digests have one length whatever the token's, and every
 * entry is compared, so neither the length nor the position of a match shows in the time taken.
 */
export function tokenEntryOf(tokens: readonly ApiToken[], presented: string): ApiToken | undefined {
  const digest = digestOf(presented);
  let found: ApiToken | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(token.digest, digest) && found === undefined) found = token;
  }
  return found;
}

/** RFC 6750: `Bearer <b64token>`, the scheme in any case. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/** Parsed once per secret value: middy hands over the same object until its cache lapses. */
const parsed = new WeakMap<object, ApiTokens>();

/** The tokens the secret holds, parsed once per value; unusable entries are logged once and grant nothing. */
export function tokensOf(secret: unknown): ApiTokens {
  const key = typeof secret === 'object' && secret !== null ? secret : undefined;
  const known = key && parsed.get(key);
  if (known) return known;
  const tokens = parseApiTokens(secret);
  if (tokens.ignored.length > 0) {
    log.warn('API tokens secret has unusable entries; they grant nothing', {
      entries: tokens.ignored,
      usable: tokens.tokens.length,
    });
  }
  if (key) parsed.set(key, tokens);
  return tokens;
}
