import type { LiteLlmTarget } from '../config.ts';
import { redact } from '../log.ts';
import { LiteLlmResponseError } from './errors.ts';
import { errorFromBody, LiteLlmTransport } from './transport.ts';
import type {
  GenerateKeyRequest,
  GenerateKeyResponse,
  KeyListPage,
  KeyListQuery,
  KeyRecord,
} from './types.ts';

/** LiteLLM's largest /key/list page. */
export const MAX_PAGE_SIZE = 100;

/** LiteLLM's own 404 (`{"error": {...}}`), as opposed to a route that does not exist (`{"detail": "Not Found"}`). */
function isKeyNotFound(body: unknown, phrase: RegExp): boolean {
  const error = (body as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === 'string' && phrase.test(error.message);
}

function unexpected404(endpoint: string, body: unknown): LiteLlmResponseError {
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  return new LiteLlmResponseError(
    endpoint,
    404,
    undefined,
    typeof detail === 'string' ? detail : 'Not Found',
  );
}

function asObject(body: unknown, endpoint: string): Record<string, unknown> {
  if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  throw new LiteLlmResponseError(endpoint, 200, undefined, 'answered with an unexpected body');
}

/** The key API of one LiteLLM proxy, authenticated with its master key. */
export class LiteLlmClient {
  private readonly transport: LiteLlmTransport;

  constructor(target: LiteLlmTarget, masterKey: string, deadline?: () => number) {
    this.transport = new LiteLlmTransport(target, masterKey, deadline);
  }

  /** Model names the proxy serves (`GET /v1/models` with the master key sees all of them). */
  async listModels(): Promise<string[]> {
    const { body } = await this.transport.call({ method: 'GET', path: '/v1/models', retry: true });
    const data = asObject(body, 'GET /v1/models').data;
    if (!Array.isArray(data))
      throw new LiteLlmResponseError('GET /v1/models', 200, undefined, 'no data list');
    return data.map((model) => String((model as { id?: unknown }).id));
  }

  /** Create a key with our pinned value; safe to resend, since the same value cannot make a second key. */
  async generateKey(request: GenerateKeyRequest): Promise<GenerateKeyResponse> {
    const { body } = await this.transport.call({
      method: 'POST',
      path: '/key/generate',
      body: request,
      retry: true,
    });
    return asObject(body, 'POST /key/generate') as unknown as GenerateKeyResponse;
  }

  /** A key by raw value or hash; undefined when LiteLLM does not know it (404). */
  async getKeyInfo(keyOrHash: string): Promise<KeyRecord | undefined> {
    const { status, body } = await this.transport.call({
      method: 'GET',
      path: '/key/info',
      query: { key: keyOrHash },
      retry: true,
      expect: [404],
    });
    if (status === 404) {
      if (isKeyNotFound(body, /not found/i)) return undefined;
      throw unexpected404('GET /key/info', body);
    }
    const info = asObject(body, 'GET /key/info').info;
    return asObject(info, 'GET /key/info') as unknown as KeyRecord;
  }

  /** One page of /key/list as full objects (each with its `token` hash). */
  async listKeys(query: KeyListQuery): Promise<KeyListPage> {
    const { body } = await this.transport.call({
      method: 'GET',
      path: '/key/list',
      query: { ...query, size: query.size ?? MAX_PAGE_SIZE, return_full_object: true },
      retry: true,
    });
    return asObject(body, 'GET /key/list') as unknown as KeyListPage;
  }

  /** Every key holding `alias` (exact match); LiteLLM does not keep aliases unique under races. */
  async listKeysByAlias(alias: string): Promise<KeyRecord[]> {
    const keys: KeyRecord[] = [];
    for (let page = 1; ; page++) {
      const result = await this.listKeys({ key_alias: alias, page });
      keys.push(...result.keys);
      if (page >= result.total_pages || result.keys.length === 0) return keys;
    }
  }

  /** Delete keys by value or hash; false when none of them existed (LiteLLM's 404 "No keys found"). */
  deleteKeys(keys: readonly string[]): Promise<boolean> {
    return this.delete({ keys });
  }

  /** Delete every key holding each alias (duplicates from LiteLLM's alias race included); false when none did. */
  deleteKeysByAlias(aliases: readonly string[]): Promise<boolean> {
    return this.delete({ key_aliases: aliases });
  }

  private async delete(body: { keys: readonly string[] } | { key_aliases: readonly string[] }) {
    const { status, body: answer } = await this.transport.call({
      method: 'POST',
      path: '/key/delete',
      body,
      retry: true,
      expect: [404],
    });
    if (status !== 404) return true;
    if (isKeyNotFound(answer, /no keys found/i)) return false;
    throw unexpected404('POST /key/delete', answer);
  }

  /**
   * Set a key's expiry to now + `duration`; nothing else is sent, so nothing else changes (LiteLLM
   * would replace the whole metadata). Pass the raw key where known: LiteLLM evicts its auth cache
   * entry only under the hash of what it was given. Undefined when the key no longer exists.
   */
  async extendKey(keyOrHash: string, duration: string): Promise<KeyRecord | undefined> {
    const { status, body } = await this.transport.call({
      method: 'POST',
      path: '/key/update',
      body: { key: keyOrHash, duration },
      retry: true,
      // LiteLLM answers an unknown key on /key/update with 401, not 404.
      expect: [401, 404],
    });
    if (status === 401 || status === 404) {
      const { type, message } = errorFromBody(body);
      if (/does not exist|not found/i.test(message)) return undefined;
      throw new LiteLlmResponseError('POST /key/update', status, type, redact(message));
    }
    return asObject(body, 'POST /key/update') as unknown as KeyRecord;
  }

  /**
   * Use a virtual key on an LLM route, as its holder would. `unknown` is LiteLLM's "not found in db"
   * (the row is gone and this replica holds no cached copy); `refused` covers expired or blocked keys.
   */
  async probeKey(rawKey: string): Promise<KeyProbe> {
    const { status, body } = await this.transport.call({
      method: 'GET',
      path: '/v1/models',
      bearer: rawKey,
      retry: true,
      expect: [400, 401, 403],
    });
    if (status < 300) return 'accepted';
    const { type, message } = errorFromBody(body);
    return type === 'token_not_found_in_db' || /not found in db|unable to find token/i.test(message)
      ? 'unknown'
      : 'refused';
  }
}

export type KeyProbe = 'accepted' | 'unknown' | 'refused';
