import type { StandInDatabase } from './database.ts';
import { COPIED_COLUMNS, SCHEMA_SQL } from './schema.ts';

const TABLE = '"LiteLLM_VerificationToken"';
const DELETED = '"LiteLLM_DeletedVerificationToken"';
const USERS = '"LiteLLM_UserTable"';

/** LiteLLM's UI login creates its admin user (LITELLM_PROXY_ADMIN_NAME) as a proxy admin. */
const PROXY_ADMIN_NAME = 'default_user_id';

/** A key row as the stand-in reads it back; timestamps as UTC text. */
export interface KeyRow {
  token: string;
  key_name: string | null;
  key_alias: string | null;
  expires: string | null;
  models: string[];
  metadata: Record<string, unknown>;
  user_id: string | null;
  team_id: string | null;
  spend: number;
  /** Lifetime spend (PR #41403); served only by releases that have it. */
  total_spend: number;
  max_budget: number | null;
  tpm_limit: number | null;
  rpm_limit: number | null;
  blocked: boolean | null;
  /** Routes or LiteLLMRoutes group names the key may call; empty or null means any. */
  allowed_routes: string[] | null;
  created_at: string | null;
  updated_at: string | null;
  created_by: string | null;
}

export interface NewKey {
  token: string;
  key_name: string;
  key_alias: string | null;
  expires: Date | null;
  models: readonly string[];
  metadata: Record<string, unknown>;
  user_id: string | null;
  team_id?: string | null;
  max_budget: number | null;
  tpm_limit?: number | null;
  rpm_limit?: number | null;
  blocked?: boolean | null;
  allowed_routes?: readonly string[];
  created_by: string;
  created_at?: Date;
}

export interface ListFilter {
  user_id?: string;
  team_id?: string;
  key_alias?: string;
  key_hash?: string;
  organization_id?: string;
  /** Post-snapshot LiteLLM only: 'expired' (expires < now) or 'active'. */
  expires?: 'expired' | 'active';
  /** `deleted` reads the deleted-keys table; the others narrow the live one (PR #41311). */
  status?: 'active' | 'expired' | 'revoked' | 'deleted';
  /** `key_alias` and `user_id` as case-insensitive substrings (admin callers, PR #24746). */
  substring?: boolean;
}

/** A row of the deleted-keys table, with when and by whom. */
export type DeletedRow = KeyRow & { deleted_at: string | null; deleted_by: string | null };

const SELECT = `token, key_name, key_alias,
  to_char(expires, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS expires,
  models, metadata, user_id, team_id, spend, total_spend, max_budget, tpm_limit::float8 AS tpm_limit,
  rpm_limit::float8 AS rpm_limit, blocked, allowed_routes,
  to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS created_at,
  to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS updated_at, created_by`;

const DELETED_COLUMNS = `to_char(deleted_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS deleted_at, deleted_by`;

const SORTABLE = new Set(['spend', 'max_budget', 'created_at', 'updated_at', 'token', 'key_alias']);

function utc(date: Date | null | undefined): string | null {
  return date ? date.toISOString().replace('Z', '') : null;
}

/** SQL over LiteLLM's own tables; everything parameterised. */
export class KeyTable {
  constructor(readonly db: StandInDatabase) {}

  async migrate(): Promise<void> {
    for (const statement of SCHEMA_SQL.split(';')
      .map((s) => s.trim())
      .filter(Boolean)) {
      await this.db.query(statement);
    }
    await this.setUserRole(PROXY_ADMIN_NAME, 'proxy_admin');
  }

  async truncate(): Promise<void> {
    await this.db.query(`TRUNCATE ${TABLE}, ${DELETED}, ${USERS}`);
    await this.setUserRole(PROXY_ADMIN_NAME, 'proxy_admin');
  }

  /** A user's `user_role`; undefined for no user, or one LiteLLM holds no row for. */
  async userRole(userId: string | null): Promise<string | undefined> {
    if (userId === null) return undefined;
    const rows = await this.db.query<{ user_role: string | null }>(
      `SELECT user_role FROM ${USERS} WHERE user_id = $1`,
      [userId],
    );
    return rows[0]?.user_role ?? undefined;
  }

  /** Create the user, or change its role (what `/user/new` and `/user/update` would write). */
  async setUserRole(userId: string, role: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ${USERS} (user_id, user_role) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET user_role = EXCLUDED.user_role, updated_at = CURRENT_TIMESTAMP`,
      [userId, role],
    );
  }

  async firstTokenWithAlias(alias: string, exceptToken?: string): Promise<string | undefined> {
    const rows = await this.db.query<{ token: string }>(
      `SELECT token FROM ${TABLE} WHERE key_alias = $1 AND token IS DISTINCT FROM $2 LIMIT 1`,
      [alias, exceptToken ?? null],
    );
    return rows[0]?.token;
  }

  /** LiteLLM inserts with an upsert keyed on the token whose update is empty: a repeat writes nothing. */
  async insert(key: NewKey): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO ${TABLE} (token, key_name, key_alias, expires, models, metadata, user_id, team_id,
         max_budget, tpm_limit, rpm_limit, blocked, allowed_routes, created_by, updated_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4::timestamp, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $14,
         COALESCE($15::timestamp, CURRENT_TIMESTAMP), COALESCE($15::timestamp, CURRENT_TIMESTAMP))
       ON CONFLICT (token) DO NOTHING RETURNING token`,
      [
        key.token,
        key.key_name,
        key.key_alias,
        utc(key.expires),
        [...key.models],
        JSON.stringify(key.metadata),
        key.user_id,
        key.team_id ?? null,
        key.max_budget,
        key.tpm_limit ?? null,
        key.rpm_limit ?? null,
        key.blocked ?? null,
        [...(key.allowed_routes ?? [])],
        key.created_by,
        utc(key.created_at),
      ],
    );
    return rows.length > 0;
  }

  /**
   * Many keys in one statement (test populations of 10k+ keys), then the VACUUM ANALYZE that a
   * server's autovacuum would run after such a load; PGlite has no autovacuum, and without fresh
   * statistics and visibility its deep-offset pages are ten times slower than a real proxy's.
   */
  async insertMany(keys: readonly NewKey[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 2000) {
      const chunk = keys.slice(start, start + 2000);
      await this.db.query(
        `INSERT INTO ${TABLE} (token, key_name, key_alias, expires, models, metadata, user_id, created_by, created_at)
         SELECT token, key_name, key_alias, expires, models::text[], metadata, user_id, created_by, created_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamp[], $5::text[], $6::jsonb[],
             $7::text[], $8::text[], $9::timestamp[])
             AS t(token, key_name, key_alias, expires, models, metadata, user_id, created_by, created_at)
         ON CONFLICT (token) DO NOTHING`,
        [
          chunk.map((k) => k.token),
          chunk.map((k) => k.key_name),
          chunk.map((k) => k.key_alias),
          chunk.map((k) => utc(k.expires)),
          // unnest flattens nested arrays, so models travel as one literal each
          chunk.map((k) => `{${k.models.map((m) => `"${m}"`).join(',')}}`),
          chunk.map((k) => JSON.stringify(k.metadata)),
          chunk.map((k) => k.user_id),
          chunk.map((k) => k.created_by),
          chunk.map((k) => utc(k.created_at ?? new Date())),
        ],
      );
    }
    await this.db.query(`VACUUM ANALYZE ${TABLE}`);
  }

  /** Put a row read earlier back, as a /key/generate LiteLLM applies after its caller gave up would. */
  async restore(row: KeyRow): Promise<void> {
    await this.insertMany([
      {
        token: row.token,
        key_name: String(row.key_name),
        key_alias: row.key_alias,
        expires: row.expires ? new Date(`${row.expires}Z`) : null,
        models: row.models,
        metadata: row.metadata,
        user_id: row.user_id,
        max_budget: row.max_budget,
        created_by: String(row.created_by),
      },
    ]);
  }

  async get(token: string): Promise<KeyRow | undefined> {
    const rows = await this.db.query<KeyRow>(`SELECT ${SELECT} FROM ${TABLE} WHERE token = $1`, [token]);
    return rows[0];
  }

  async getMany(tokens: readonly string[]): Promise<KeyRow[]> {
    return this.db.query<KeyRow>(`SELECT ${SELECT} FROM ${TABLE} WHERE token = ANY($1::text[])`, [
      [...tokens],
    ]);
  }

  /**
   * The tokens named, and those of the aliases named, each by its own query: one `OR` of both
   * would scan the table (key_alias has no index), where LiteLLM deletes by key id through the primary key.
   */
  async tokensFor(tokens: readonly string[], aliases: readonly string[]): Promise<string[]> {
    const matching = async (column: 'token' | 'key_alias', values: readonly string[]) =>
      values.length === 0
        ? []
        : this.db.query<{ token: string }>(`SELECT token FROM ${TABLE} WHERE ${column} = ANY($1::text[])`, [
            [...values],
          ]);
    const rows = [...(await matching('token', tokens)), ...(await matching('key_alias', aliases))];
    return [...new Set(rows.map((row) => row.token))];
  }

  async list(
    filter: ListFilter,
    page: number,
    size: number,
    sortBy = 'created_at',
    order: 'asc' | 'desc' = 'desc',
  ): Promise<{ rows: (KeyRow | DeletedRow)[]; total: number }> {
    const deleted = filter.status === 'deleted';
    const table = deleted ? DELETED : TABLE;
    const where = [`team_id IS DISTINCT FROM 'litellm-dashboard'`];
    const params: unknown[] = [];
    for (const column of ['user_id', 'team_id', 'key_alias', 'organization_id'] as const) {
      const value = filter[column];
      if (value === undefined) continue;
      const contains = filter.substring && (column === 'user_id' || column === 'key_alias');
      params.push(contains ? `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : value);
      where.push(contains ? `${column} ILIKE $${params.length}` : `${column} = $${params.length}`);
    }
    if (filter.key_hash !== undefined) {
      params.push(filter.key_hash);
      where.push(`token = $${params.length}`);
    }
    const expired = 'expires IS NOT NULL AND expires < CURRENT_TIMESTAMP';
    if (filter.expires === 'expired' || filter.status === 'expired') where.push(expired);
    if (filter.expires === 'active') where.push('(expires IS NULL OR expires >= CURRENT_TIMESTAMP)');
    if (filter.status === 'active') where.push(`NOT (${expired}) AND blocked IS NOT TRUE`);
    if (filter.status === 'revoked') where.push('blocked IS TRUE');
    const clause = where.join(' AND ');
    const sort = SORTABLE.has(sortBy) ? sortBy : 'created_at';
    const direction = order === 'asc' ? 'ASC' : 'DESC';
    const ordering = `ORDER BY ${sort} ${direction}, ${deleted ? 'id' : 'token'} ${direction}`;
    const columns = deleted ? `${SELECT}, ${DELETED_COLUMNS}` : SELECT;
    const key = deleted ? 'id' : 'token';
    // The page's keys first, then their rows: the skipped rows are never formatted.
    const rows = await this.db.query<KeyRow>(
      `SELECT ${columns} FROM ${table} WHERE ${key} IN (
         SELECT ${key} FROM ${table} WHERE ${clause} ${ordering}
         OFFSET $${params.length + 1} LIMIT $${params.length + 2})
       ${ordering}`,
      [...params, (page - 1) * size, size],
    );
    const count = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${clause}`,
      params,
    );
    return { rows, total: count[0]?.n ?? 0 };
  }

  /** The latest deleted-keys row of a token. */
  async lastDeleted(token: string): Promise<DeletedRow | undefined> {
    const rows = await this.db.query<DeletedRow>(
      `SELECT ${SELECT}, ${DELETED_COLUMNS} FROM ${DELETED} WHERE token = $1 ORDER BY deleted_at DESC LIMIT 1`,
      [token],
    );
    return rows[0];
  }

  /** Copy each row into the deleted-keys table, then delete it: one transaction, as LiteLLM does. */
  async deleteWithAudit(
    tokens: readonly string[],
    deletedBy: string,
    deletedByApiKey: string,
  ): Promise<number> {
    const columns = ['token', ...COPIED_COLUMNS, 'created_at', 'updated_at'].join(', ');
    return this.db.transaction(async (query) => {
      await query(
        `INSERT INTO ${DELETED} (${columns}, deleted_by, deleted_by_api_key)
         SELECT ${columns}, $2, $3 FROM ${TABLE} WHERE token = ANY($1::text[])`,
        [[...tokens], deletedBy, deletedByApiKey],
      );
      const deleted = await query(`DELETE FROM ${TABLE} WHERE token = ANY($1::text[]) RETURNING token`, [
        [...tokens],
      ]);
      return deleted.length;
    });
  }

  async update(token: string, changes: Record<string, unknown>): Promise<void> {
    const sets: string[] = ['updated_at = CURRENT_TIMESTAMP'];
    const params: unknown[] = [token];
    for (const [column, value] of Object.entries(changes)) {
      params.push(column === 'metadata' ? JSON.stringify(value) : value instanceof Date ? utc(value) : value);
      const cast = column === 'metadata' ? '::jsonb' : column === 'expires' ? '::timestamp' : '';
      sets.push(`${column} = $${params.length}${cast}`);
    }
    await this.db.query(`UPDATE ${TABLE} SET ${sets.join(', ')} WHERE token = $1`, params);
  }

  /** A key spends `usd`; lifetime `total_spend` grows only where the release keeps it. */
  async addSpend(token: string, usd: number, lifetime: boolean): Promise<void> {
    await this.db.query(
      `UPDATE ${TABLE} SET spend = spend + $2,
         total_spend = CASE WHEN $3 THEN total_spend + $2 ELSE total_spend END WHERE token = $1`,
      [token, usd, lifetime],
    );
  }

  /** What a backfill of lifetime spend leaves: never less than the current period's spend. */
  async backfillTotalSpend(): Promise<void> {
    await this.db.query(`UPDATE ${TABLE} SET total_spend = GREATEST(total_spend, spend)`);
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE}`);
    return rows[0]?.n ?? 0;
  }

  async deletedRows(): Promise<{ token: string; key_alias: string | null; deleted_at: string }[]> {
    return this.db.query(
      `SELECT token, key_alias, deleted_at::text AS deleted_at FROM ${DELETED} ORDER BY deleted_at`,
    );
  }
}
