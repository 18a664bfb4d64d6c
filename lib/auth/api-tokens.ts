import { createHash, timingSafeEqual } from 'node:crypto';

/** Shorter tokens are ignored: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

export interface ApiToken {
  readonly client: string;
  readonly digest: Buffer;
}

export interface ApiTokens {
  readonly tokens: readonly ApiToken[];
  /** Clients whose entry is not a usable token (not a string, too short); named in a warning. */
  readonly ignored: readonly string[];
}

const digestOf = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * The API tokens secret, `{"client-name": "token", ...}`, as middy hands it over (parsed JSON).
 * Several entries may be valid at once, so a token is rotated by adding the new one first.
 */
export function parseApiTokens(secret: unknown): ApiTokens {
  if (typeof secret !== 'object' || secret === null || Array.isArray(secret)) {
    return { tokens: [], ignored: ['(the secret is not a JSON object)'] };
  }
  const tokens: ApiToken[] = [];
  const ignored: string[] = [];
  for (const [client, token] of Object.entries(secret)) {
    if (typeof token === 'string' && token.length >= MIN_TOKEN_LENGTH && !/\s/.test(token)) {
      tokens.push({ client, digest: digestOf(token) });
    } else {
      ignored.push(client);
    }
  }
  return { tokens, ignored };
}

/**
 * The client a presented token belongs to. Digests have one length whatever the token's, and every
 * entry is compared, so neither the length nor the position of a match shows in the time taken.
 */
export function clientOf(tokens: readonly ApiToken[], presented: string): string | undefined {
  const digest = digestOf(presented);
  let client: string | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(token.digest, digest) && client === undefined) client = token.client;
  }
  return client;
}

/** RFC 6750: `Bearer <b64token>`, the scheme in any case. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}
