import { readFileSync } from 'node:fs';
import { type ConnectionOptions, rootCertificates } from 'node:tls';
import pg from 'pg';
import type { Deadline } from '../deadline.ts';
import { UnavailableError, UpstreamError } from '../errors.ts';
import { MANAGED_BY } from '../key-identity.ts';
import { log } from '../log.ts';
import { ROLE_CREATED_BY } from '../role-made/role-made-key.ts';

const KEYS_TABLE = 'LiteLLM_VerificationToken';
const DELETED_TABLE = 'LiteLLM_DeletedVerificationToken';
/** Columns of the deleted-keys table that this deletion fills itself. */
const AUDIT_COLUMNS = new Set(['id', 'deleted_at', 'deleted_by', 'deleted_by_api_key', 'litellm_changed_by']);

export interface DatabaseDeletion {
  readonly guid: string;
  /** LiteLLM tokens (key hashes) to delete. */
  readonly keyIds: readonly string[];
  /** When the work must be over (the Lambda deadline). */
  readonly deadline: Deadline;
  /**
   * A PEM bundle of certificate authorities trusted besides Node's own (on Lambda,
   * `/var/runtime/ca-cert.pem` holds Amazon RDS's), for verifying the database's certificate.
   */
  readonly caFile?: string;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface Connection {
  readonly connectionString: string;
  readonly ssl: false | ConnectionOptions;
  readonly schema?: string;
}

/**
 * LiteLLM's DATABASE_URL is a Prisma URL. Its parameters are Prisma's (`schema`, `connection_limit`,
 * `sslmode`, `sslaccept`...), not all of them `pg`'s, so none is passed on: `schema` qualifies the
 * tables, and TLS is decided here. TLS with a verified certificate unless the URL says
 * `sslmode=disable` in so many words: the master-key secret's URL must not send LiteLLM's
 * database credentials in the clear by omission.
 */
function connectionOf(databaseUrl: string, caFile: string | undefined): Connection {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new UpstreamError('the database_url of the master-key secret is not a URL');
  }
  const schema = url.searchParams.get('schema') ?? undefined;
  const plaintext = url.searchParams.get('sslmode')?.toLowerCase() === 'disable';
  url.search = '';
  const ca = caFile ? [...rootCertificates, readFileSync(caFile, 'utf8')] : undefined;
  return {
    connectionString: url.toString(),
    ssl: plaintext ? false : { rejectUnauthorized: true, ...(ca ? { ca } : {}) },
    ...(schema ? { schema } : {}),
  };
}

/** What a caller may be told of a connection failure: its kind, never the host, port or user. */
function connectFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code)) return code;
  if (error instanceof Error && /does not support SSL/i.test(error.message)) return 'server refused TLS';
  return 'connection failed';
}

/**
 * Delete keys the API left behind straight from LiteLLM's Postgres, as LiteLLM's own delete does:
 * each row is first copied into the deleted-keys table, in the same statement (so the same
 * transaction) that deletes it. Only rows of this lab carrying our marker (or, for a key the ledger
 * took over from the Ansible role, the role's `created_by` and no marker) are touched. Values travel as
 * parameters; the only identifiers spliced in are column names read from the catalog. Returns the
 * tokens actually deleted.
 */
export async function deleteKeysFromDatabase(
  databaseUrl: string,
  deletion: DatabaseDeletion,
): Promise<string[]> {
  let connection: Connection;
  try {
    connection = connectionOf(databaseUrl, deletion.caFile);
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    // A CA bundle that cannot be read is the deployment's fault, not the database's: say which file.
    log.error('the database CA bundle cannot be read', { err: error, file: deletion.caFile });
    throw new UpstreamError(`the database CA bundle ${deletion.caFile} cannot be read`);
  }
  const { connectionString, ssl, schema } = connection;
  const remaining = () => Math.max(1, deletion.deadline.remainingMs());
  const client = new pg.Client({
    connectionString,
    ssl,
    connectionTimeoutMillis: Math.min(5000, remaining()),
    query_timeout: remaining(),
    application_name: MANAGED_BY,
  });
  try {
    await client.connect();
  } catch (error) {
    // The log has the whole error (redacted); the caller learns the kind of failure only.
    log.error('LiteLLM’s database is unreachable', { err: error, tls: ssl !== false });
    throw new UnavailableError(
      `LiteLLM's database is unreachable for direct deletion (${connectFailure(error)}${ssl ? ', TLS' : ''})`,
      30,
    );
  }
  try {
    const target = schema ?? (await client.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]?.s;
    if (!target) throw new UpstreamError("LiteLLM's database has no current schema");
    const qualified = (table: string) => `${quoteIdent(target)}.${quoteIdent(table)}`;
    const { rows: shared } = await client.query<{ name: string }>(
      `SELECT k.column_name AS name
         FROM information_schema.columns k
         JOIN information_schema.columns d
           ON d.table_schema = k.table_schema AND d.column_name = k.column_name AND d.table_name = $3
        WHERE k.table_schema = $1 AND k.table_name = $2
        ORDER BY k.ordinal_position`,
      [target, KEYS_TABLE, DELETED_TABLE],
    );
    const columns = shared.map((row) => row.name).filter((name) => !AUDIT_COLUMNS.has(name));
    if (!columns.includes('token')) {
      throw new UpstreamError(
        `LiteLLM's database has no ${KEYS_TABLE} and ${DELETED_TABLE} tables in schema ${target}`,
      );
    }
    const list = columns.map(quoteIdent).join(', ');
    const { rows } = await client.query<{ token: string }>(
      `WITH gone AS (
         DELETE FROM ${qualified(KEYS_TABLE)}
          WHERE token = ANY($1::text[]) AND metadata->>'guid' = $3
            AND (metadata->>'managed_by' = $2
                 -- A key the Ansible role made, taken over by the ledger (lib/role-made/).
                 OR (metadata->>'managed_by' IS NULL AND metadata->>'created_by' = $4))
          RETURNING *
       )
       INSERT INTO ${qualified(DELETED_TABLE)} (id, ${list}, deleted_at, deleted_by, litellm_changed_by)
       SELECT gen_random_uuid()::text, ${list}, now() AT TIME ZONE 'UTC', $2, $2 FROM gone
       RETURNING token`,
      [[...deletion.keyIds], MANAGED_BY, deletion.guid, ROLE_CREATED_BY],
    );
    return rows.map((row) => row.token);
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    log.error('direct deletion from LiteLLM’s database failed', { err: error });
    const sqlState = (error as { code?: unknown } | null)?.code;
    throw new UpstreamError(
      `direct deletion from LiteLLM's database failed${typeof sqlState === 'string' ? ` (SQLSTATE ${sqlState.slice(0, 5)})` : ''}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
