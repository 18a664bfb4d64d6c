import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';

/**
 * The stand-in's Postgres, always reached over the wire protocol with `pg`, exactly as the service
 * reaches LiteLLM's database for direct deletion: the server named by DATABASE_URL (one schema per
 * instance), or an embedded PGlite served on a loopback socket.
 */
export interface StandInDatabase {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  transaction<T>(work: (query: StandInDatabase['query']) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'pglite' | 'postgres';
  /** LiteLLM's DATABASE_URL for this database, Prisma style (`?schema=` when not `public`). */
  readonly url: string;
}

const POOL_SIZE = 8;

function poolDatabase(
  kind: StandInDatabase['kind'],
  url: string,
  pool: pg.Pool,
  stop: () => Promise<void>,
): StandInDatabase {
  const run =
    (client: pg.Pool | pg.PoolClient) =>
    async <T>(sql: string, params: readonly unknown[] = []) =>
      (await client.query(sql, params as unknown[])).rows as T[];
  return {
    kind,
    url,
    query: run(pool),
    transaction: async (work) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(run(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    close: async () => {
      await pool.end();
      await stop();
    },
  };
}

async function openPglite(): Promise<StandInDatabase> {
  const db = await PGlite.create();
  // PGlite is one backend; the socket server queues clients and keeps each transaction whole.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: POOL_SIZE + 4 });
  await server.start();
  const url = `postgres://postgres:postgres@${server.getServerConn()}/postgres`;
  // One connection of our own: PGlite runs one statement at a time anyway, and the multiplexer
  // loses unnamed portals when many of one client's pipelined transactions interleave.
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  // The service's direct deletion uses TLS unless told otherwise; PGlite's socket speaks none.
  return poolDatabase('pglite', `${url}?sslmode=disable`, pool, async () => {
    await server.stop();
    await db.close();
  });
}

async function openPostgres(serverUrl: string): Promise<StandInDatabase> {
  const schema = `standin_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pool = new pg.Pool({
    connectionString: serverUrl,
    max: POOL_SIZE,
    options: `-c search_path=${schema}`,
  });
  const url = new URL(serverUrl);
  url.searchParams.set('schema', schema);
  // The service's direct deletion uses TLS unless told otherwise; a local server has none.
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
  return poolDatabase('postgres', url.toString(), pool, async () => {
    const dropper = new pg.Client({ connectionString: serverUrl });
    await dropper.connect();
    await dropper.query(`DROP SCHEMA ${schema} CASCADE`);
    await dropper.end();
  });
}

export function openStandInDatabase(url = process.env.DATABASE_URL): Promise<StandInDatabase> {
  return url ? openPostgres(url) : openPglite();
}
