import type { LiteLlmTarget } from '../config.ts';
import type { Deadline } from '../deadline.ts';
import {
  bulkInfoOf,
  type CheckedKeyRecord,
  generatedKeyOf,
  infoOf,
  keyRecordOf,
  listPageOf,
  modelGroupsOf,
  modelIdsOf,
} from './answers.ts';
import { customKeyAdvice } from './custom-key-advice.ts';
import { readErrorBody } from './error-catalogue.ts';
import { isFault, LiteLlmResponseError } from './errors.ts';
import { type ProxyRelease, releaseOf } from './release.ts';
import { LiteLlmTransport } from './transport.ts';
import type {
  GenerateKeyRequest,
  GenerateKeyResponse,
  KeyListPage,
  KeyListQuery,
  KeyLookup,
  KeyRecord,
} from './types.ts';

/** LiteLLM's largest /key/list page. */
export const MAX_PAGE_SIZE = 100;
/** Keys per `/v2/key/info` call: two delete batches, so a sweep can re-read one and verify another at once. */
const BULK_INFO_SIZE = 250;

/**
 * A key LiteLLM reports as deleted: `status: "deleted"` (inside `info`, or beside it) and
 * `deleted_at`, as `/key/info` answers for deleted keys since v1.103 (PR #41311).
 */
function isDeleted(record: CheckedKeyRecord, outer?: { status?: string }): boolean {
  return record.status === 'deleted' || outer?.status === 'deleted' || Boolean(record.deleted_at);
}

/** The key API of one LiteLLM proxy, authenticated with its master key. */
export class LiteLlmClient {
  private readonly transport: LiteLlmTransport;

  constructor(
    private readonly target: LiteLlmTarget,
    masterKey: string,
    deadline?: Deadline,
    /** Called when the proxy refuses the master key, so a rotated one is read afresh. */
    onMasterKeyRefused?: () => void,
  ) {
    this.transport = new LiteLlmTransport(target, masterKey, deadline, onMasterKeyRefused);
  }

  /** Model names the proxy serves (`GET /v1/models` with the master key sees all of them). */
  async listModels(): Promise<string[]> {
    const { body } = await this.transport.call({ method: 'GET', path: '/v1/models' });
    return modelIdsOf(body, 'GET /v1/models');
  }

  /**
   * Model names the admin model list holds (`GET /model/info`): from v1.104 a model marked not
   * `discoverable` can be missing from `/v1/models` (PR #42825) and still be served.
   */
  async listModelGroups(): Promise<string[]> {
    const { body } = await this.transport.call({ method: 'GET', path: '/model/info' });
    return modelGroupsOf(body, 'GET /model/info');
  }

  /** Create a key with our pinned value; safe to resend, since the same value cannot make a second key. */
  async generateKey(request: GenerateKeyRequest): Promise<GenerateKeyResponse> {
    try {
      const { body } = await this.transport.call({ method: 'POST', path: '/key/generate', body: request });
      return generatedKeyOf(body, 'POST /key/generate');
    } catch (error) {
      // How to lift disable_custom_api_keys depends on the release (PR #42437).
      if (!isFault(error, 'custom-key-refused')) throw error;
      throw new LiteLlmResponseError(error.answer, error.fault, customKeyAdvice(await this.release(true)));
    }
  }

  /** A key by raw value or hash: live, reported deleted (v1.103 on), or unknown to LiteLLM. */
  async getKeyInfo(keyOrHash: string): Promise<KeyLookup> {
    try {
      const { body } = await this.transport.call({
        method: 'GET',
        path: '/key/info',
        query: { key: keyOrHash },
      });
      const outer = infoOf(body, 'GET /key/info');
      const record = keyRecordOf(outer.info, 'GET /key/info info');
      if (isDeleted(record, outer)) return { state: 'deleted' };
      return { state: 'live', record };
    } catch (error) {
      if (isFault(error, 'key-not-found')) return { state: 'unknown' };
      throw error;
    }
  }

  /**
   * Many keys by hash in one call per 250 (`POST /v2/key/info`, admin only, in every supported
   * release); keys LiteLLM does not hold, or reports deleted, are absent from the map.
   */
  async getKeysInfo(keyIds: readonly string[]): Promise<Map<string, KeyRecord>> {
    const found = new Map<string, KeyRecord>();
    for (let start = 0; start < keyIds.length; start += BULK_INFO_SIZE) {
      const keys = keyIds.slice(start, start + BULK_INFO_SIZE);
      const { body } = await this.transport.call({ method: 'POST', path: '/v2/key/info', body: { keys } });
      for (const [index, row] of bulkInfoOf(body, 'POST /v2/key/info').entries()) {
        const record = keyRecordOf(row, `POST /v2/key/info info.${index}`);
        if (record.token && !isDeleted(record)) found.set(record.token, record);
      }
    }
    return found;
  }

  /**
   * One page of /key/list as full objects (each with its `token` hash). Alias and user filters are
   * asked for exactly (`substring_matching=false`; releases before v1.90 ignore it, see
   * listKeysByAlias); rows reported deleted are dropped.
   */
  async listKeys(query: KeyListQuery): Promise<KeyListPage> {
    const filtered = query.key_alias !== undefined || query.user_id !== undefined;
    const { body } = await this.transport.call({
      method: 'GET',
      path: '/key/list',
      query: {
        ...query,
        size: query.size ?? MAX_PAGE_SIZE,
        return_full_object: true,
        ...(filtered ? { substring_matching: false } : {}),
      },
    });
    const page = listPageOf(body, 'GET /key/list');
    return { ...page, keys: page.keys.filter((key) => !isDeleted(key)) };
  }

  /**
   * Every key holding exactly `alias`; LiteLLM does not keep aliases unique under races. v1.83.3 to
   * v1.89.x match the filter as a case-insensitive substring for admins (PR #24746), so each row's
   * alias is compared again here.
   */
  async listKeysByAlias(alias: string): Promise<KeyRecord[]> {
    const keys: KeyRecord[] = [];
    for (let page = 1; ; page++) {
      const result = await this.listKeys({ key_alias: alias, page });
      keys.push(...result.keys.filter((key) => key.key_alias === alias));
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
    try {
      await this.transport.call({ method: 'POST', path: '/key/delete', body });
      return true;
    } catch (error) {
      if (isFault(error, 'no-keys-found')) return false;
      throw error;
    }
  }

  /**
   * Set a key's expiry to now + `duration`; nothing else is sent, so nothing else changes (LiteLLM
   * would replace the whole metadata). Pass the raw key where known: LiteLLM evicts its auth cache
   * entry only under the hash of what it was given. Undefined when the key no longer exists.
   */
  async extendKey(keyOrHash: string, duration: string): Promise<KeyRecord | undefined> {
    try {
      const { body } = await this.transport.call({
        method: 'POST',
        path: '/key/update',
        body: { key: keyOrHash, duration },
      });
      return keyRecordOf(body, 'POST /key/update');
    } catch (error) {
      if (isFault(error, 'key-not-found')) return undefined;
      if (!isFault(error, 'update-refused-unauthorized')) throw error;
      // A 401 is an unknown key on v1.81 and a refused master key anywhere: /key/info tells which
      // (with a master key LiteLLM refuses, it throws that refusal itself).
      if ((await this.getKeyInfo(keyOrHash)).state !== 'live') return undefined;
      throw new LiteLlmResponseError(error.answer, 'unexpected');
    }
  }

  /**
   * Use a virtual key on an LLM route, as its holder would. `unknown` is LiteLLM's "not found in db"
   * (the row is gone and this replica holds no cached copy); `refused` covers expired, blocked and
   * over-budget keys (400, 401, 403; over budget 400 before v1.93, 429 to v1.103, 422 from v1.104).
   */
  async probeKey(rawKey: string): Promise<KeyProbe> {
    const { status, body } = await this.transport.call({ method: 'GET', path: '/v1/models', bearer: rawKey });
    if (status < 300) return 'accepted';
    const { type, message } = readErrorBody('GET /v1/models', status, body);
    const unknown =
      type === 'token_not_found_in_db' ||
      ((type === undefined || type === 'auth_error') &&
        /not found in db|unable to find token/i.test(message));
    return status === 401 && unknown ? 'unknown' : 'refused';
  }

  /** The proxy's release, read once per container and hour from `/health/readiness` (see release.ts), or now with `fresh`. */
  release(fresh = false): Promise<ProxyRelease> {
    return releaseOf(this.target.url, () => this.readVersion(), fresh);
  }

  /**
   * `litellm_version` from the public readiness answer, or, where the proxy keeps details behind
   * authentication (newer releases by default), from `/health/readiness/details`.
   */
  private async readVersion(): Promise<string | undefined> {
    const versionIn = (body: unknown) => {
      const version = (body as { litellm_version?: unknown } | undefined)?.litellm_version;
      return typeof version === 'string' ? version : undefined;
    };
    const { body } = await this.transport.call({ method: 'GET', path: '/health/readiness' });
    const version = versionIn(body);
    if (version) return version;
    try {
      return versionIn(
        (await this.transport.call({ method: 'GET', path: '/health/readiness/details' })).body,
      );
    } catch (error) {
      if (isFault(error, 'route-not-found')) return undefined;
      throw error;
    }
  }
}

export type KeyProbe = 'accepted' | 'unknown' | 'refused';
