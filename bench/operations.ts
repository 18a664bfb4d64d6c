/**
 * The operator's numbers of issue 26, measured: how long a lab event is retried before it is
 * parked, how soon `npm start` lets go of its port after SIGINT to npm alone, cfn-lint's errors on
 * the packaged template (default and production-like parameters), and what a lab event costs on its
 * way through the queue.
 */
import '../scripts/check-node.mjs';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { retrySpanSeconds } from '../lib/lab-events/retry-schedule.ts';
import { runServerless } from '../test/support/fixtures/package-service.ts';
import { refused, until } from '../test/support/fixtures/polling.ts';
import { type Goal, printSummary } from './goals.ts';

const STOP_RUNS = 5;

/** `custom.labEventMaxReceives` as serverless.yml declares it (the router's count and the queue's). */
function maxReceives(): number {
  const declared = /^ {2}labEventMaxReceives: (\d+)$/m.exec(readFileSync('serverless.yml', 'utf8'))?.[1];
  if (declared === undefined) throw new Error('serverless.yml declares no custom.labEventMaxReceives');
  return Number(declared);
}

/** Milliseconds from SIGINT to npm (only) until the port refuses connections. */
async function stopAfterSigint(): Promise<number> {
  const child: ChildProcess = spawn('npm', ['start'], {
    env: { ...process.env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', () => {});
  try {
    if (!(await until(60_000, () => output.includes('\nReady.'))))
      throw new Error(`npm start not ready:\n${output}`);
    const base = /litellm-virtual-keys on (http:\/\/localhost:\d+)/.exec(output)?.[1] ?? '';
    const sent = Date.now();
    process.kill(child.pid as number, 'SIGINT');
    if (!(await until(30_000, () => refused(base)))) return Number.POSITIVE_INFINITY;
    return Date.now() - sent;
  } finally {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
}

/** cfn-lint's errors (E rules) on the template packaged with these parameters. */
function cfnLintErrors(params: readonly string[]): number | undefined {
  if (spawnSync('cfn-lint', ['--version']).status !== 0) return undefined;
  const out = mkdtempSync(join(tmpdir(), 'bench-template-'));
  try {
    const packaged = runServerless(['package', '--stage', 'bench', '--package', out, ...params]);
    if (packaged.status !== 0) throw new Error(`package failed:\n${packaged.stdout}\n${packaged.stderr}`);
    const lint = spawnSync(
      'cfn-lint',
      ['--format', 'parseable', join(out, 'cloudformation-template-update-stack.json')],
      { encoding: 'utf8' },
    );
    return lint.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line)).length;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const account = '123456789012';
const PRODUCTION_LIKE = [
  `--param=litellmTargets=${JSON.stringify({
    default: { url: 'https://litellm.example.com', master_key_secret_id: 'litellm/master-default' },
    maas: { url: 'https://maas.example.com', master_key_secret_id: 'litellm/master-maas' },
  })}`,
  `--param=keyValuesKmsKeyArn=arn:aws:kms:us-east-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  '--param=destroySubnetIds=subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002',
  '--param=destroySecurityGroupIds=sg-0a1b2c3d4e5f60001',
  `--param=labEventPrincipals=arn:aws:iam::${account}:role/rhdp-a,arn:aws:iam::${account}:role/rhdp-b`,
];

const receives = maxReceives();
const spanHours = retrySpanSeconds(receives) / 3600;
const stops: number[] = [];
for (let run = 0; run < STOP_RUNS; run++) stops.push(await stopAfterSigint());
const slowestStop = Math.max(...stops);
const lintDefault = cfnLintErrors([]);
const lintProduction = cfnLintErrors(PRODUCTION_LIKE);

console.log(`# Operations

| figure | value |
| --- | --- |
| lab event: attempts before it is parked | ${receives} |
| lab event: retry span | ${spanHours.toFixed(1)} h |
| npm start: SIGINT to npm until the port is free (${STOP_RUNS} runs) | ${stops.map((ms) => `${ms} ms`).join(', ')} |
| cfn-lint 1.51 errors, default parameters | ${lintDefault ?? 'cfn-lint not installed'} |
| cfn-lint 1.51 errors, production-like parameters | ${lintProduction ?? 'cfn-lint not installed'} |
| a lab event's way, per event that applies at once | 1 intake invocation, 1 SQS SendMessage, 1 batch receive (shared by up to 5), 1 synchronous Invoke, 1 delete (shared) |
`);

const lintGoal = (which: string, errors: number | undefined): Goal => ({
  goal: `cfn-lint: 0 errors on the packaged template, ${which} parameters`,
  measured: errors === undefined ? 'cfn-lint not installed' : `${errors} errors`,
  met: errors === 0,
  ...(errors === undefined ? { reason: 'cfn-lint is not on PATH' } : {}),
});

printSummary({
  bench: 'operations',
  latency: 'none (stand-ins at full speed)',
  goals: [
    {
      goal: 'a lab event retried for at least 24 hours before it is parked',
      measured: `${spanHours.toFixed(1)} h over ${receives} attempts`,
      met: spanHours >= 24,
    },
    {
      goal: '`npm start` frees its port within 5 s of SIGINT to the npm process alone',
      measured: `slowest of ${STOP_RUNS}: ${slowestStop} ms`,
      met: slowestStop < 5_000,
    },
    lintGoal('default', lintDefault),
    lintGoal('production-like', lintProduction),
  ],
});
