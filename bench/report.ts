/**
 * `npm run bench`: runs every bench in its own fresh process, one after another (so none competes
 * with another for the two cores), and prints (with `--write`, writes BENCHMARKS.md): the machine, Node version and date,
 * every goal with its verdict, the comparisons with the role's approach, then each bench's own
 * figures. A bench that fails is reported as failed, and the command exits non-zero.
 *
 * BENCH_DATABASE_URL (a Postgres server) holds the stand-in's tables for the sweep and size benches,
 * whose million keys are more than the embedded PGlite keeps comfortably; without it they run on
 * PGlite at 200,000 keys, and say so.
 */
import '../scripts/check-node.mjs';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { type BenchSummary, SUMMARY_MARKER, verdict } from './goals.ts';

interface Bench {
  readonly script: string;
  readonly env?: Record<string, string>;
}

const postgres = process.env.BENCH_DATABASE_URL;
// The committed figures include the million-key sweep on Postgres: a run without it must not replace them.
if (process.argv.includes('--write') && !postgres) {
  process.stderr.write(
    'npm run bench -- --write needs BENCH_DATABASE_URL (a Postgres server): BENCHMARKS.md holds the Postgres sweep figures\n',
  );
  process.exit(2);
}
const BENCHES: Bench[] = [
  { script: 'provision' },
  { script: 'burst' },
  { script: 'multi-user' },
  { script: 'targets' },
  { script: 'destroy' },
  {
    script: 'sweep',
    env: postgres ? { DATABASE_URL: postgres } : { BENCH_KEYS: '200000', BENCH_EXPIRED: '10000' },
  },
  { script: 'listing-sweep', env: postgres ? { DATABASE_URL: postgres } : {} },
  // LiteLLM at 1,000 keys and at a million (200,000 on PGlite): a lab's operations must not notice.
  { script: 'size', env: postgres ? { DATABASE_URL: postgres } : {} },
  { script: 'cold-start' },
  // The cut-over from the Ansible role: the window's cost, the takeover, the role-made sweep.
  { script: 'cut-over' },
  // The operator's numbers: a lab event's retry span, npm start's stop, cfn-lint's errors.
  { script: 'operations' },
];

interface Run {
  readonly bench: string;
  readonly seconds: number;
  readonly output: string;
  readonly ok: boolean;
  readonly summary?: BenchSummary;
}

function run({ script, env = {} }: Bench): Run {
  process.stderr.write(`bench ${script}${env.DATABASE_URL ? ' (Postgres)' : ''}...\n`);
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}.ts`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (Date.now() - started) / 1000;
  const marker = child.stdout.lastIndexOf(SUMMARY_MARKER);
  const summary =
    marker >= 0
      ? (JSON.parse(
          child.stdout.slice(marker + SUMMARY_MARKER.length, child.stdout.indexOf(' -->', marker)),
        ) as BenchSummary)
      : undefined;
  const output = (marker >= 0 ? child.stdout.slice(0, marker) : child.stdout).trim();
  const bench = summary?.bench ?? script;
  return { bench, seconds, output, ok: child.status === 0, ...(summary ? { summary } : {}) };
}

const runs = BENCHES.map(run);
const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${type()} ${release()}`;

const goalRows = runs.flatMap((r) =>
  r.summary
    ? r.summary.goals.map(
        (g) => `| ${r.bench} | ${r.summary?.latency} | ${g.goal} | ${g.measured} | ${verdict(g)} |`,
      )
    : [`| ${r.bench} | | the bench runs | ${r.ok ? 'no summary printed' : 'it failed'} | **missed** |`],
);
const comparisonRows = runs.flatMap((r) =>
  (r.summary?.comparisons ?? []).map((c) => `| ${r.bench} | ${c.what} | ${c.ours} | ${c.role} |`),
);
const missed = runs.flatMap((r) => r.summary?.goals.filter((g) => !g.met) ?? []).length;
const demote = (markdown: string) => markdown.replace(/^#/gm, '##');

const report = `# Benchmarks

Written by \`npm run bench -- --write\` on ${new Date().toISOString()}. Do not edit by hand: run it again.

- Machine: ${machine}.
- Node ${process.version}; each bench runs alone in a fresh process.
- LiteLLM is the test suite's stand-in (real HTTP on loopback; LiteLLM's tables in PGlite${postgres ? ', and for the sweep and size benches in a Postgres server' : ''}) with the
  latency per request each row names; Secrets Manager, KMS and EventBridge are the suite's stand-ins
  with no added latency; the lab ledger is dynalite, an in-memory DynamoDB, in its own process. Times therefore show this service's own cost plus that latency, on this
  machine; call counts do not depend on the machine.
- ${missed === 0 ? 'Every goal below is met.' : `${missed} goal(s) missed; each names its reason.`}

## Goals

| bench | stand-in latency | goal | measured | verdict |
| --- | --- | --- | --- | --- |
${goalRows.join('\n')}

## Compared with the role's approach

The Ansible role found a lab's key by paging \`/key/list\` and asking \`/key/info\` of every key,
made users' keys one after another, and had no sweep. Its approach is replayed (or, where marked,
computed) against the same stand-in.

| bench | operation | this service | the role's approach |
| --- | --- | --- | --- |
${comparisonRows.join('\n')}

${runs.map((r) => `${demote(r.output)}\n\n_Bench run time: ${r.seconds.toFixed(0)} s${r.ok ? '' : '; the bench FAILED'}._`).join('\n\n')}
`;

if (process.argv.includes('--write')) {
  writeFileSync('BENCHMARKS.md', report);
  process.stderr.write(`BENCHMARKS.md written: ${runs.length} benches, ${missed} goal(s) missed\n`);
} else {
  process.stdout.write(report);
  process.stderr.write(
    `${runs.length} benches, ${missed} goal(s) missed; npm run bench -- --write updates BENCHMARKS.md\n`,
  );
}
if (runs.some((r) => !r.ok)) process.exit(1);
