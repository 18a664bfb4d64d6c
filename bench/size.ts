/**
 * Size bench: LiteLLM's size must not enter a lab's cost. With 1,000 keys in LiteLLM and with
 * 1,000,000, /key/list at its real cost and every other call 5 ms: the p50 latency, the LiteLLM
 * calls and the time LiteLLM spent per endpoint of a lab's first provision, replay, extend, status
 * and destroy (BENCH_SIZE_LABS labs each, default 45), and a 200-user lab's provision; beside them,
 * the same figures of the code before the ledger stopped listing aliases. A third run measures the
 * larger size again with an index on `key_alias` created as an operator could: LiteLLM's schema has
 * none, and its /key/generate checks the alias against the whole table. Prints figures and goals;
 * asserts nothing.
 *
 * Each size runs in a process of its own (`--keys N`: the service reads its configuration once per
 * process), with the stand-ins and their population in another (bench/sweep-stand-ins.ts, with no
 * expired keys). The million needs DATABASE_URL (a Postgres server); without it the larger size is
 * 200,000 keys on PGlite, and the figures say so. BENCH_SIZE_LARGE sets it outright.
 */
import '../scripts/check-node.mjs';

import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  deleteKeysEvent,
  extendKeysEvent,
  getKeysEvent,
  lambdaContext,
  postKeysEvent,
} from '../test/support/fixtures/events.ts';
import { API_TOKENS_SECRET_ID, importRouteHandlers, MASTER_KEY_SECRET_ID } from '../test/support/harness.ts';
import { type Goal, printSummary } from './goals.ts';
import { startStandIns } from './stand-ins-process.ts';

// Each operation takes tens of ms: 45 runs keep its p50 from moving by a run's noise.
const LABS = Number(process.env.BENCH_SIZE_LABS ?? 45);
const USERS = 200;
const LATENCY_MS = 5;
const LIST = 'GET /key/list';
const GENERATE = 'POST /key/generate';
// A lab's deleted keys are looked for again until RECONCILE_GRACE after they were made; labs here
// live seconds, so that hour is a second: a destroy after it is the destroy of a lab of any age.
const GRACE_MS = 1000;
const OPERATIONS = ['first provision', 'replay', 'extend', 'status', 'destroy'] as const;
type Operation = (typeof OPERATIONS)[number];

/** Timings of one operation's runs, and what LiteLLM saw of them: calls and busy ms per endpoint, summed. */
interface Runs {
  readonly ms: number[];
  /** Each run's time less the time LiteLLM spent answering that run's calls. */
  readonly outsideMs: number[];
  readonly calls: Record<string, number>;
  readonly busyMs: Record<string, number>;
}
/** One size's figures, sent by its process to the parent. */
interface SizeRun {
  readonly keys: number;
  /** An index on key_alias beside LiteLLM's schema (BENCH_ALIAS_INDEX in the stand-ins' process). */
  readonly aliasIndex: boolean;
  readonly database: string;
  readonly operations: Record<Operation, Runs>;
  readonly users: Runs;
}

/**
 * This bench on faecc3a, the code before the lab ledger stopped listing aliases (provision and
 * destroy listed each of a lab's aliases with /key/list), run once from a worktree of that commit
 * with this file and the count query's cost copied in, on Postgres, 2026-12-07: [1,000 keys, 1,000,000].
 */
const BEFORE: {
  readonly commit: string;
  readonly keys: readonly [number, number];
  readonly labs: number;
  readonly p50Ms: Record<Operation, readonly [number, number]>;
  readonly listCalls: Record<Operation, readonly [number, number]>;
  readonly usersCallsPerUser: readonly [number, number];
  readonly usersWallMs: readonly [number, number];
} = {
  commit: 'faecc3a',
  keys: [1_000, 1_000_000],
  labs: 15,
  p50Ms: {
    'first provision': [83.8, 1668.3],
    replay: [17.7, 15.1],
    extend: [54.6, 46.6],
    status: [15.6, 12.8],
    destroy: [78.3, 1682.7],
  },
  listCalls: {
    'first provision': [15, 15],
    replay: [0, 0],
    extend: [0, 0],
    status: [0, 0],
    destroy: [15, 15],
  },
  usersCallsPerUser: [2.005, 2.005],
  usersWallMs: [1873, 57653],
};

/** `into` += what grew from `before` to `after`. */
function addGrowth(
  into: Record<string, number>,
  after: Record<string, number>,
  before: Record<string, number>,
) {
  for (const [name, value] of Object.entries(after)) {
    const grown = value - (before[name] ?? 0);
    if (grown > 0) into[name] = (into[name] ?? 0) + grown;
  }
}

/**
 * A table LiteLLM has held for a while has been vacuumed and analysed; one just bulk-loaded has
 * not, and its first reads and the server's autovacuum would be measured with the operations.
 * The stand-in's schema is named at random: every key table on the server not yet vacuumed is.
 */
async function settle(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ schema: string }>(
    `SELECT schemaname AS schema FROM pg_stat_user_tables
     WHERE relname = 'LiteLLM_VerificationToken' AND last_vacuum IS NULL AND last_autovacuum IS NULL`,
  );
  for (const { schema } of rows) {
    await client.query(`VACUUM (ANALYZE) ${pg.escapeIdentifier(schema)}."LiteLLM_VerificationToken"`);
  }
  await client.query('CHECKPOINT');
  await client.end();
}

/** The figures of one size, in this process: the stand-ins in a child, the handlers here. */
async function measureSize(keys: number, aliasIndex: boolean): Promise<SizeRun> {
  Object.assign(process.env, {
    BENCH_KEYS: String(keys),
    BENCH_EXPIRED: '0',
    BENCH_ALIAS_INDEX: aliasIndex ? '1' : '0',
  });
  const standIns = await startStandIns('./sweep-stand-ins.ts');
  if (process.env.DATABASE_URL) await settle(process.env.DATABASE_URL);
  Object.assign(process.env, standIns.env, {
    LITELLM_MASTER_KEY_SECRET_ID: MASTER_KEY_SECRET_ID,
    API_TOKENS_SECRET_ID,
    LITELLM_TIMEOUT_MS: '60000',
    LITELLM_RETRIES: '3',
    RECONCILE_GRACE: '1s',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDSTANDIN',
    AWS_SECRET_ACCESS_KEY: 'stand-in-secret',
  });
  const route = await importRouteHandlers();
  const context = () => lambdaContext(900_000);

  /** Each run timed, LiteLLM's counters read before and after it, outside the time measured. */
  async function timed(what: string, runsOf: (() => Promise<unknown>)[]): Promise<Runs> {
    const result: Runs = { ms: [], outsideMs: [], calls: {}, busyMs: {} };
    for (const run of runsOf) {
      const before = await standIns.counts();
      const started = performance.now();
      const { statusCode } = (await run()) as { statusCode?: number };
      const ms = performance.now() - started;
      if (statusCode !== 200 && statusCode !== 201) throw new Error(`${what} answered ${statusCode}`);
      const after = await standIns.counts();
      const busy: Record<string, number> = {};
      addGrowth(busy, after.busyMs, before.busyMs);
      addGrowth(result.calls, after.calls, before.calls);
      addGrowth(result.busyMs, after.busyMs, before.busyMs);
      result.ms.push(ms);
      result.outsideMs.push(ms - Object.values(busy).reduce((a, b) => a + b, 0));
    }
    return result;
  }
  const runs: Record<Operation, (guid: string) => Promise<unknown>> = {
    'first provision': (guid) => route.provision(postKeysEvent({ guid }), context()),
    replay: (guid) => route.provision(postKeysEvent({ guid }), context()),
    extend: (guid) => route.extend(extendKeysEvent(guid, { duration: '10d' }), context()),
    status: (guid) => route.status(getKeysEvent(guid), context()),
    destroy: (guid) => route.destroy(deleteKeysEvent(guid), context()),
  };

  // A warm container: the master key read and LiteLLM's release checked before anything is measured.
  await timed('warm-up', [() => runs['first provision']('size-warm')]);
  await sleep(GRACE_MS);
  await timed('warm-up', [() => runs.destroy('size-warm')]);

  const guids = Array.from({ length: LABS }, (_, i) => `size-lab-${i}`);
  const operations = {} as Record<Operation, Runs>;
  for (const operation of OPERATIONS) {
    if (operation === 'destroy') await sleep(GRACE_MS);
    operations[operation] = await timed(
      operation,
      guids.map((guid) => () => runs[operation](guid)),
    );
  }
  const guid = `size-users-${USERS}`;
  const users = await timed('users', [
    () => route.provision(postKeysEvent({ guid, users: USERS }), context()),
  ]);
  standIns.stop();
  return { keys, aliasIndex, database: standIns.database, operations, users };
}

function runSize(keys: number, aliasIndex = false): Promise<SizeRun> {
  process.stderr.write(
    `size bench: ${keys.toLocaleString('en')} keys${aliasIndex ? ', key_alias indexed' : ''}...\n`,
  );
  const args = ['--keys', String(keys), ...(aliasIndex ? ['--alias-index'] : [])];
  const child = fork(fileURLToPath(import.meta.url), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (run) => resolve(run as SizeRun));
    child.once('exit', (code) => reject(new Error(`the ${keys}-key run exited with ${code}`)));
  });
}

const p50 = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
/** The p50 of each run's time outside LiteLLM: the service's own time and the other stand-ins'. */
const outside = (runs: Runs) => p50(runs.outsideMs);
const callsIn = (runs: Runs) => Object.values(runs.calls).reduce((a, b) => a + b, 0);
const count = (n: number) => n.toLocaleString('en');
const ratio = (large: number, small: number) => `${(large / small).toFixed(2)} x`;
/** "1,000,000 keys" or "1,000,000 keys, key_alias indexed". */
const sizeOf = (run: SizeRun) => `${count(run.keys)} keys${run.aliasIndex ? ', key_alias indexed' : ''}`;
/** A 200-user provision's wall time less LiteLLM's busy time, its endpoints' added up. */
const usersOutside = (run: SizeRun) =>
  (run.users.ms[0] ?? Number.NaN) - Object.values(run.users.busyMs).reduce((a, b) => a + b, 0);

/** "POST /key/generate 1.00 (6.1 ms)": each endpoint's calls and busy time, per run. */
function perEndpoint(runs: Runs, per: number): string {
  return Object.keys(runs.calls)
    .sort()
    .map(
      (name) =>
        `${name} ${((runs.calls[name] ?? 0) / per).toFixed(2)} (${((runs.busyMs[name] ?? 0) / per).toFixed(1)} ms)`,
    )
    .join(', ');
}

/** Where an operation's time grew from one size to the other: the endpoint whose busy time grew most. */
function growth(operation: Operation, small: SizeRun, large: SizeRun, indexed: SizeRun): string {
  const [a, b, c] = [small.operations[operation], large.operations[operation], indexed.operations[operation]];
  const msPerRun = (runs: Runs, name: string) => (runs.busyMs[name] ?? 0) / runs.ms.length;
  const [name] = Object.keys(b.busyMs).sort(
    (x, y) => msPerRun(b, y) - msPerRun(a, y) - (msPerRun(b, x) - msPerRun(a, x)),
  );
  const own = `outside LiteLLM ${outside(a).toFixed(1)} ms and ${outside(b).toFixed(1)} ms (${ratio(outside(b), outside(a))})`;
  const withIndex = `with an operator's index on key_alias ${ratio(p50(c.ms), p50(a.ms))}`;
  if (!name) return `LiteLLM was not called; ${own}; ${withIndex}`;
  const why =
    name === GENERATE ? ` (its alias check reads key_alias, which LiteLLM's schema does not index)` : '';
  return `LiteLLM answered ${name} in ${msPerRun(a, name).toFixed(1)} ms per ${operation} at ${count(small.keys)} keys, ${msPerRun(b, name).toFixed(1)} ms at ${count(large.keys)}${why}; ${own}; ${withIndex}`;
}

function printFigures(small: SizeRun, large: SizeRun, indexed: SizeRun): void {
  const rows = OPERATIONS.map((operation) => {
    const [a, b] = [small.operations[operation], large.operations[operation]];
    const [ownA, ownB] = [outside(a), outside(b)];
    return `| ${operation} | ${p50(a.ms).toFixed(1)} | ${p50(b.ms).toFixed(1)} | ${ratio(p50(b.ms), p50(a.ms))} | ${ownA.toFixed(1)} / ${ownB.toFixed(1)} (${ratio(ownB, ownA)}) | ${a.calls[LIST] ?? 0} / ${b.calls[LIST] ?? 0} | ${perEndpoint(a, a.ms.length)} | ${perEndpoint(b, b.ms.length)} |`;
  });
  const indexedRows = OPERATIONS.map((operation) => {
    const [a, c] = [small.operations[operation], indexed.operations[operation]];
    return `| ${operation} | ${p50(c.ms).toFixed(1)} | ${ratio(p50(c.ms), p50(a.ms))} | ${outside(c).toFixed(1)} (${ratio(outside(c), outside(a))}) | ${c.calls[LIST] ?? 0} | ${perEndpoint(c, c.ms.length)} |`;
  });
  const userRow = (run: SizeRun) =>
    `| ${sizeOf(run)} | ${(run.users.ms[0] ?? 0).toFixed(0)} | ${usersOutside(run).toFixed(0)} | ${callsIn(run.users)} (${(callsIn(run.users) / USERS).toFixed(3)}) | ${run.users.calls[LIST] ?? 0} | ${perEndpoint(run.users, 1)} |`;
  console.log(`# size bench (Node ${process.version}, ${new Date().toISOString()})

${count(small.keys)} and ${count(large.keys)} other keys in LiteLLM (stand-in database: ${small.database} and ${large.database});
/key/list at LiteLLM's real cost (20 ms, plus 500 ms per 380,000 rows of the table for its count query, plus
980 ms per 380,000 rows of OFFSET), every other call ${LATENCY_MS} ms; LiteLLM's own /key/generate checks the alias
against the table without an index, as LiteLLM's does. Warm container. ${LABS} labs of one key each, one
operation after another. "Outside LiteLLM": the p50 of each run's time less the time LiteLLM spent
answering that run's calls (the service, the ledger, KMS), and its ratio from the smaller size to the larger. "LiteLLM per run": each
endpoint's calls, and the time LiteLLM spent answering them, per run of the operation.

| operation | p50 ms, ${count(small.keys)} keys | p50 ms, ${count(large.keys)} keys | ratio | outside LiteLLM, ms (ratio) | /key/list calls (all ${LABS} labs) | LiteLLM per run, ${count(small.keys)} keys | LiteLLM per run, ${count(large.keys)} keys |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Where a first provision's time grows with LiteLLM's size: in LiteLLM's own /key/generate, which refuses
an alias another key holds (\`_enforce_unique_key_alias\`) by querying \`key_alias\`, a column LiteLLM's
schema (\`LiteLLM_VerificationToken\` in schema.prisma) does not index, so among a million keys the check
reads the table. This service sends one /key/generate per key and nothing else whose cost grows with the
table: the lab's keys afterwards by key id, through the primary key, and no /key/list. The same at
${count(indexed.keys)} keys with an index on \`key_alias\` created as an operator could
(\`CREATE INDEX CONCURRENTLY ON "LiteLLM_VerificationToken" (key_alias)\`), outside LiteLLM's schema;
ratios are to the ${count(small.keys)}-key run:

| operation | p50 ms | ratio | outside LiteLLM, ms (ratio) | /key/list calls (all ${LABS} labs) | LiteLLM per run |
| --- | --- | --- | --- | --- | --- |
${indexedRows.join('\n')}

A ${USERS}-user lab's provision (LITELLM_MAX_CONNECTIONS at its default); LiteLLM's time per endpoint is
the wall time during which at least one of its calls was being answered, and "outside LiteLLM" the wall
time less those, added up:

| keys in LiteLLM | wall ms | outside LiteLLM, ms | LiteLLM calls (per user) | /key/list calls | LiteLLM per endpoint: calls, time |
| --- | --- | --- | --- | --- | --- |
${userRow(small)}
${userRow(large)}
${userRow(indexed)}`);
}

function printBeside(small: SizeRun, large: SizeRun): void {
  const pair = ([a, b]: readonly [number, number], digits: number) =>
    `${a.toFixed(digits)} / ${b.toFixed(digits)}`;
  const rows = OPERATIONS.map((operation) => {
    const now = [small, large].map((run) => run.operations[operation]);
    const nowP50 = now.map((runs) => p50(runs.ms)) as [number, number];
    const nowListed = now.map((runs) => runs.calls[LIST] ?? 0) as [number, number];
    return `| ${operation} | ${pair(BEFORE.p50Ms[operation], 1)} | ${pair(nowP50, 1)} | ${pair(BEFORE.listCalls[operation], 0)} | ${pair(nowListed, 0)} |`;
  });
  const users = [small, large].map((run) => run.users);
  console.log(`
Beside the code before the ledger stopped listing aliases (${BEFORE.commit}, measured once by this bench at
${BEFORE.keys.map(count).join(' / ')} keys, ${BEFORE.labs} labs; "now" is this run, at ${count(small.keys)} / ${count(large.keys)} keys, ${LABS} labs):

| operation | p50 ms, ${BEFORE.commit} | p50 ms, now | /key/list calls, ${BEFORE.commit} | /key/list calls, now |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
| ${USERS}-user provision: wall ms | ${pair(BEFORE.usersWallMs, 0)} | ${pair(users.map((u) => u.ms[0] ?? Number.NaN) as [number, number], 0)} | ${USERS} / ${USERS} | ${pair(users.map((u) => u.calls[LIST] ?? 0) as [number, number], 0)} |
| ${USERS}-user provision: LiteLLM calls per user | ${pair(BEFORE.usersCallsPerUser, 3)} | ${pair(users.map((u) => callsIn(u) / USERS) as [number, number], 3)} | | |`);
}

function summarise(small: SizeRun, large: SizeRun, indexed: SizeRun): void {
  const sizes = `${count(small.keys)} / ${count(large.keys)} keys`;
  const listed = (operation: Operation) =>
    [small, large].map((run) => run.operations[operation].calls[LIST] ?? 0);
  const ratioGoals: Goal[] = OPERATIONS.map((operation) => {
    const [a, b] = [p50(small.operations[operation].ms), p50(large.operations[operation].ms)];
    return {
      goal: `${operation}: p50 at ${count(large.keys)} keys within 1.2 x that at ${count(small.keys)}`,
      measured: `${(b / a).toFixed(2)} x (${a.toFixed(1)} ms, ${b.toFixed(1)} ms)`,
      met: b / a <= 1.2,
      reason: growth(operation, small, large, indexed),
    };
  });
  const perUser = [small, large].map((run) => callsIn(run.users) / USERS);
  const userMs = [small, large].map((run) => run.users.ms[0] ?? Number.NaN);
  printSummary({
    bench: `size (${count(small.keys)} and ${count(large.keys)} keys on ${large.database})`,
    latency: `/key/list at LiteLLM's real cost; ${LATENCY_MS} ms otherwise`,
    goals: [
      {
        goal: `0 /key/list calls in a first provision, a replay, an extend, a status and a destroy (${LABS} labs each, ${sizes})`,
        measured: OPERATIONS.map((operation) => `${operation} ${listed(operation).join(' / ')}`).join(', '),
        met: OPERATIONS.every((operation) => listed(operation).every((calls) => calls === 0)),
        reason: 'these operations list LiteLLM by alias',
      },
      ...ratioGoals,
      {
        goal: `${USERS}-user provision: <= 1.05 LiteLLM calls per user (${sizes})`,
        measured: perUser.map((n) => n.toFixed(3)).join(' / '),
        met: perUser.every((n) => n <= 1.05),
        reason: `per user: ${perEndpoint(large.users, USERS)}`,
      },
      {
        goal: `${USERS}-user provision under 3 s (${sizes})`,
        measured: userMs.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(' / '),
        met: userMs.every((ms) => ms < 3000),
        reason: `at ${count(large.keys)} keys LiteLLM was answering ${GENERATE} for ${((large.users.busyMs[GENERATE] ?? 0) / 1000).toFixed(2)} s, one call per key, each checking the alias against the unindexed key_alias; outside LiteLLM ${(usersOutside(large) / 1000).toFixed(2)} s; with an operator's index on key_alias ${((indexed.users.ms[0] ?? Number.NaN) / 1000).toFixed(2)} s`,
      },
    ],
  });
}

const keysArgument = process.argv.indexOf('--keys');
if (keysArgument >= 0) {
  const run = await measureSize(
    Number(process.argv[keysArgument + 1]),
    process.argv.includes('--alias-index'),
  );
  process.send?.(run, () => process.exit(0));
} else {
  const large = Number(process.env.BENCH_SIZE_LARGE ?? (process.env.DATABASE_URL ? 1_000_000 : 200_000));
  const small = await runSize(1_000);
  const big = await runSize(large);
  const indexed = await runSize(large, true);
  printFigures(small, big, indexed);
  printBeside(small, big);
  summarise(small, big, indexed);
  process.exit(0);
}
