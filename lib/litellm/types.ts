/** Shapes of LiteLLM's key API that this service reads or sends (see docs/guarantees.md, "LiteLLM releases"). */

/** A row of LiteLLM_VerificationToken as /key/info (`info`) and /key/list (full objects) return it. */
export interface KeyRecord {
  readonly token?: string;
  readonly key_alias: string | null;
  readonly key_name?: string | null;
  readonly expires: string | null;
  readonly models: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>> | null;
  readonly user_id: string | null;
  readonly team_id?: string | null;
  readonly spend?: number;
  /** Lifetime spend, never reset by a budget period (v1.103 on, PR #41403). */
  readonly total_spend?: number;
  readonly max_budget?: number | null;
  readonly blocked?: boolean | null;
  readonly created_at?: string | null;
}

/** What `/key/info` knows of a key: live, deleted (reported since v1.103), or nothing (404). */
export type KeyLookup =
  | { readonly state: 'live'; readonly record: KeyRecord }
  | { readonly state: 'deleted' }
  | { readonly state: 'unknown' };

/** Body of POST /key/generate as we send it: always with our own pinned `key` value. */
export interface GenerateKeyRequest {
  readonly key: string;
  readonly key_alias: string;
  readonly models: readonly string[];
  readonly duration: string;
  readonly user_id: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly max_budget?: number | null;
  readonly tpm_limit?: number;
  readonly rpm_limit?: number;
  /**
   * Lab keys call LLM API routes only. LiteLLM turns `key_type: llm_api` into exactly this
   * `allowed_routes` (`handle_key_type`), and checks it before any role, so even a key whose owner
   * is a proxy admin cannot manage the proxy; sending both keeps the binding explicit.
   */
  readonly key_type: 'llm_api';
  readonly allowed_routes: readonly ['llm_api_routes'];
}

export interface GenerateKeyResponse {
  readonly key: string;
  readonly token_id?: string | null;
  readonly token?: string | null;
  readonly key_alias?: string | null;
  readonly expires: string | null;
  readonly models?: readonly string[];
}

export interface KeyListPage {
  readonly keys: readonly KeyRecord[];
  readonly total_count: number;
  readonly current_page: number;
  readonly total_pages: number;
}

/** `expired`: expires < now (no-expiry keys excluded); `active`: no expiry or not yet expired. Newer proxies only. */
export type ExpiryFilter = 'expired' | 'active';

export interface KeyListQuery {
  readonly key_alias?: string;
  readonly user_id?: string;
  readonly page?: number;
  readonly size?: number;
  readonly sort_by?: 'created_at' | 'token' | 'key_alias';
  readonly sort_order?: 'asc' | 'desc';
  readonly expires?: ExpiryFilter;
}
