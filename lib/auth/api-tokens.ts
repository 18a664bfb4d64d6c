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

/** A scoped client: its token, what it may do, and within which limits. */
const scopedEntrySchema = z.strictObject({
  token: tokenSchema,
  scopes: z.array(z.enum(SCOPES)),
  limits: z.optional(limitsSchema),
});

/** Why an entry is unusable: the paths of its faults, never its values (one of them is the token). */
function faultsOf(error: z.core.$ZodError): string {
  return [...new Set(error.issues.map((issue) => issue.path.map(String).join('.') || 'entry'))].join(', ');
}

/**
 * The API tokens secret as middy hands it over (parsed JSON): `{"client-name": entry, ...}`, each
 * entry a plain token (every scope, no limits: what every client had before scopes existed) or
 * `{"token", "scopes", "limits"?}`. Several entries may be valid at once, so a token is rotated
 * by adding the new one first. An unusable entry grants nothing.
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
    if (typeof entry === 'string') {
      const plain = tokenSchema.safeParse(entry);
      if (plain.success) tokens.push({ client, digest: digestOf(entry), scopes: SCOPES, limits: {} });
      else ignored.push(`${client} (token shorter than ${MIN_TOKEN_LENGTH} characters or with spaces)`);
      continue;
    }
    const scoped = scopedEntrySchema.safeParse(entry);
    if (scoped.success) {
      const { token, scopes, limits = {} } = scoped.data;
      tokens.push({ client, digest: digestOf(token), scopes: [...new Set(scopes)], limits });
    } else {
      ignored.push(`${client} (${faultsOf(scoped.error)})`);
    }
  }
  return { tokens, ignored };
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
