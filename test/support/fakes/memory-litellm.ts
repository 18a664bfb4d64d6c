import { addDuration, parseDuration } from '../../../lib/duration.ts';
import { hashKey } from '../../../lib/key-identity.ts';
import { LiteLlmResponseError, LiteLlmUnavailableError } from '../../../lib/litellm/errors.ts';
import type { KeyApi } from '../../../lib/litellm/key-api.ts';
import type { GenerateKeyRequest, KeyRecord } from '../../../lib/litellm/types.ts';

/**
 * One LiteLLM proxy's key table in memory, for the protocol's tests: unique aliases, a repeated key
 * value that changes nothing, and /key/generate calls that can be held (the caller times out) and
 * applied later, as a proxy that answers slowly does.
 */
export class MemoryLiteLlm implements KeyApi {
  readonly keys = new Map<string, KeyRecord & { token: string }>();
  /** Generates whose caller gave up, waiting to be applied, with when they were sent. */
  readonly held: { readonly at: number; readonly apply: () => void }[] = [];
  /** Whether the next /key/generate is held; the test decides. */
  holdNext: () => boolean = () => false;
  /** Called with the tokens of each /key/delete before it deletes them. */
  onDelete: (tokens: readonly string[]) => void = () => undefined;

  constructor(
    private readonly now: () => Date,
    private readonly models: readonly string[] = ['granite', 'mistral'],
    /** How long a held request can still land: the service's reconciliation grace assumes no longer. */
    private readonly landsWithinMs = Number.POSITIVE_INFINITY,
  ) {}

  async release() {
    return { version: '1.103.0', verdict: 'supported' as const };
  }

  async listModels(): Promise<string[]> {
    return [...this.models];
  }

  async listModelGroups(): Promise<string[]> {
    return [...this.models];
  }

  async generateKey(request: GenerateKeyRequest) {
    const apply = () => this.insert(request);
    if (this.holdNext()) {
      this.held.push({
        at: this.now().getTime(),
        apply: () => {
          try {
            apply();
          } catch {
            // Refused when it finally landed (the alias was taken meanwhile), as LiteLLM would.
          }
        },
      });
      throw new LiteLlmUnavailableError('POST /key/generate', 'timed out');
    }
    const record = apply();
    return { key: request.key, token: record.token, expires: record.expires };
  }

  /** Apply the oldest held generate (one held past `landsWithinMs` is dropped: its request died); false when none is held. */
  applyLate(): boolean {
    const next = this.held.shift();
    if (next && this.now().getTime() - next.at <= this.landsWithinMs) next.apply();
    return next !== undefined;
  }

  private insert(request: GenerateKeyRequest) {
    const token = hashKey(request.key);
    const existing = this.keys.get(token);
    const holder = [...this.keys.values()].find((key) => key.key_alias === request.key_alias);
    if (holder && holder.token !== token) {
      throw new LiteLlmResponseError(
        {
          endpoint: 'POST /key/generate',
          status: 400,
          envelope: 'error',
          type: 'bad_request_error',
          param: 'key_alias',
          message: `Key with alias '${request.key_alias}' already exists.`,
        },
        'duplicate-alias',
      );
    }
    if (existing) return existing;
    const duration = parseDuration(request.duration);
    const record = {
      token,
      key_alias: request.key_alias,
      expires: duration ? addDuration(this.now(), duration).toISOString() : null,
      models: [...request.models],
      metadata: { ...request.metadata },
      user_id: request.user_id,
      spend: 0,
      max_budget: request.max_budget ?? null,
      created_at: this.now().toISOString(),
    };
    this.keys.set(token, record);
    return record;
  }

  async getKeyInfo(keyOrHash: string) {
    const record = this.keys.get(keyOrHash.startsWith('sk-') ? hashKey(keyOrHash) : keyOrHash);
    return record ? { state: 'live' as const, record } : { state: 'unknown' as const };
  }

  async getKeysInfo(keyIds: readonly string[]): Promise<Map<string, KeyRecord>> {
    return new Map(keyIds.flatMap((id) => (this.keys.has(id) ? [[id, this.keys.get(id) as KeyRecord]] : [])));
  }

  async listKeys() {
    const keys = [...this.keys.values()];
    return { keys, total_count: keys.length, current_page: 1, total_pages: 1 };
  }

  async listKeysByAlias(alias: string): Promise<KeyRecord[]> {
    return [...this.keys.values()].filter((key) => key.key_alias === alias);
  }

  async deleteKeys(keys: readonly string[]): Promise<boolean> {
    const tokens = keys.map((key) => (key.startsWith('sk-') ? hashKey(key) : key));
    this.onDelete(tokens);
    const found = tokens.filter((token) => this.keys.delete(token));
    return found.length > 0;
  }

  async extendKey(keyOrHash: string, duration: string): Promise<KeyRecord | undefined> {
    const token = keyOrHash.startsWith('sk-') ? hashKey(keyOrHash) : keyOrHash;
    const record = this.keys.get(token);
    const parsed = parseDuration(duration);
    if (!record) return undefined;
    const updated = { ...record, expires: parsed ? addDuration(this.now(), parsed).toISOString() : null };
    this.keys.set(token, updated);
    return updated;
  }

  async probeKey(rawKey: string) {
    return this.keys.has(hashKey(rawKey)) ? ('accepted' as const) : ('unknown' as const);
  }
}
