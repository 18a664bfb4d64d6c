/**
 * Cold-start bench: packages the service as it deploys (`serverless package`), then for each
 * function's bundle (every zip the package holds) measures its size and the time a fresh Node
 * process takes to import it, beside a bare Secrets Manager client bundled and minified the same
 * way (the SDK, KMS's client included, is bundled into every function) and an empty module. Median
 * of BENCH_IMPORTS fresh processes each. Prints figures and goals; asserts nothing.
 */
import '../scripts/check-node.mjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { runServerless } from '../test/support/fixtures/package-service.ts';
import { readZip } from '../test/support/fixtures/zip.ts';
import { printSummary } from './goals.ts';

const RUNS = Number(process.env.BENCH_IMPORTS ?? 15);
/** In this order first; any other function serverless.yml packages (move, once it has its own) after them. */
const KNOWN_FUNCTIONS = ['authorizer', 'provision', 'move', 'destroy', 'status', 'extend', 'sweep'];
/** What a handler module reads at import; the endpoint refuses at once, so a prefetch cannot stall. */
const ENV = {
  LITELLM_URL: 'http://127.0.0.1:9',
  LITELLM_MASTER_KEY_SECRET_ID: 'bench-master-key',
  API_TOKENS_SECRET_ID: 'bench-api-tokens',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
  LABS_TABLE: 'bench-labs',
  KEY_VALUES_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000',
  // The lab-event functions' own settings.
  LAB_EVENT_QUEUE_URL: 'http://127.0.0.1:9/111122223333/bench-lab-events.fifo',
  LAB_EVENT_PARKED_QUEUE_URL: 'http://127.0.0.1:9/111122223333/bench-lab-events-parked.fifo',
  LAB_EVENT_MAX_RECEIVES: '20',
  PROVISION_FUNCTION_NAME: 'bench-provision',
  DESTROY_FUNCTION_NAME: 'bench-destroy',
  EXTEND_FUNCTION_NAME: 'bench-extend',
};

// Inside the project, so bundles resolve the SDK from node_modules as the runtime provides it.
mkdirSync('.bench', { recursive: true });
const work = mkdtempSync(join('.bench', 'cold-start-'));
const out = join(work, 'package');
const packaged = runServerless(['package', '--stage', 'bench', '--package', out]);
if (packaged.status !== 0)
  throw new Error(`serverless package failed:\n${packaged.stdout}\n${packaged.stderr}`);
const zips = readdirSync(out)
  .filter((file) => file.endsWith('.zip'))
  .map((file) => file.slice(0, -'.zip'.length));
const rank = (name: string) =>
  KNOWN_FUNCTIONS.includes(name) ? KNOWN_FUNCTIONS.indexOf(name) : KNOWN_FUNCTIONS.length;
const FUNCTIONS = zips.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
if (!FUNCTIONS.includes('authorizer') || !FUNCTIONS.includes('provision'))
  throw new Error(`serverless package made ${FUNCTIONS.join(', ')}: no authorizer or provision`);

/** Milliseconds from before the import to after it, in a new process. */
function importMs(specifier: string, env: NodeJS.ProcessEnv = {}): number {
  const script = `const t=performance.now();await import(${JSON.stringify(specifier)});process.stdout.write(String(performance.now()-t));process.exit(0)`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ...ENV, ...env },
  });
  const ms = Number(run.stdout);
  if (run.status !== 0 || !Number.isFinite(ms)) throw new Error(`import ${specifier} failed: ${run.stderr}`);
  return ms;
}

function median(specifier: string, env: NodeJS.ProcessEnv = {}): number {
  const times = Array.from({ length: RUNS }, () => importMs(specifier, env)).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** The import with Node's compile cache, filled by one import of the same file beforehand. */
function medianWithCompileCache(specifier: string): number {
  const env = { NODE_COMPILE_CACHE: mkdtempSync(join(work, 'compile-cache-')) };
  importMs(specifier, env);
  return median(specifier, env);
}

/** `source` bundled and minified as serverless.yml's esbuild settings build a function. */
async function bundled(name: string, source: string): Promise<string> {
  const entry = join(work, `${name}.src.mjs`);
  const outfile = join(process.cwd(), work, `${name}.bundle.mjs`);
  writeFileSync(entry, source);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

const empty = join(process.cwd(), work, 'empty.mjs');
writeFileSync(empty, 'export {};\n');
/** The yardstick: one Secrets Manager client, built as serverless.yml's esbuild settings build a function. */
const bare = await bundled(
  'bare-sdk',
  "import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\nexport const client = new SecretsManagerClient({});\n",
);
/** What a route function's import is made of, each part bundled alone. */
const PARTS: Record<string, string> = {
  'the four SDK clients a route function uses': [
    "import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';",
    "import { EventBridgeClient } from '@aws-sdk/client-eventbridge';",
    "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
    "import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';",
    "import { KMSClient } from '@aws-sdk/client-kms';",
    'export const clients = [new SecretsManagerClient({}), new EventBridgeClient({}), DynamoDBDocumentClient.from(new DynamoDBClient({})), new KMSClient({})];',
  ].join('\n'),
  'the same without KMS’s client': [
    "import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';",
    "import { EventBridgeClient } from '@aws-sdk/client-eventbridge';",
    "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
    "import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';",
    'export const clients = [new SecretsManagerClient({}), new EventBridgeClient({}), DynamoDBDocumentClient.from(new DynamoDBClient({}))];',
  ].join('\n'),
  undici: "import { Pool } from 'undici';\nexport const pool = new Pool('http://127.0.0.1:9');\n",
  zod: "import { z } from 'zod';\nexport const schema = z.object({ guid: z.string() });\n",
  'zod/mini': "import * as z from 'zod/mini';\nexport const schema = z.object({ guid: z.string() });\n",
};
const parts: { name: string; bytes: number; ms: number }[] = [];
for (const [name, source] of Object.entries(PARTS)) {
  const file = await bundled(name.replaceAll(/\W+/g, '-'), source);
  parts.push({ name, bytes: statSync(file).size, ms: median(file) });
}
const bareBytes = statSync(bare).size;
const sdk = median(bare);
const measured: { name: string; bytes: number; ms: number; cached: number }[] = [];
const rows = FUNCTIONS.map((name) => {
  const zipPath = join(out, `${name}.zip`);
  // Each zip holds its function's handler bundle (functions/<handler file>.mjs) and its source map.
  const entries = readZip(zipPath);
  const handlerFile = [...entries.keys()].find((entry) => /^functions\/[^/]+\.mjs$/.test(entry));
  if (!handlerFile) throw new Error(`${name}.zip holds no functions/*.mjs bundle`);
  const bundle = entries.get(handlerFile) as Buffer;
  const file = join(process.cwd(), work, `${name}.mjs`);
  writeFileSync(file, bundle);
  const ms = median(file);
  const cached = medianWithCompileCache(file);
  measured.push({ name, bytes: bundle.length, ms, cached });
  return `| ${name} | ${bundle.length.toLocaleString('en')} | ${statSync(zipPath).size.toLocaleString('en')} | ${ms.toFixed(0)} | ${(ms / sdk).toFixed(2)} | ${cached.toFixed(0)} |`;
});
const emptyMs = median(empty);
rmSync(work, { recursive: true, force: true });

console.log(`# cold-start bench (Node ${process.version}, ${new Date().toISOString()})

Bundles as \`serverless package\` builds them (esbuild, ES module, minified, the AWS SDK
bundled). Import time: median of ${RUNS} fresh Node processes each, from before \`import()\` to
after it, handler module top level included (configuration read, middleware built). The yardstick
is one Secrets Manager client bundled and minified the same way. The last column is the same
import with Node's compile cache filled beforehand at the same path (a lever measured, not shipped).

| function | bundle bytes | zip bytes | import ms (median) | × the bare client | with compile cache, ms |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
| bare Secrets Manager client, bundled | ${bareBytes.toLocaleString('en')} | | ${sdk.toFixed(0)} | 1.00 | |
| empty module | | | ${emptyMs.toFixed(0)} | | |

What a route function's import is made of, each part bundled alone the same way:

| part | bundle bytes | import ms (median) |
| --- | --- | --- |
${parts.map((part) => `| ${part.name} | ${part.bytes.toLocaleString('en')} | ${part.ms.toFixed(0)} |`).join('\n')}`);

const partMs = (name: string) => (parts.find((part) => part.name === name)?.ms ?? Number.NaN).toFixed(0);
const slowest = measured.reduce((a, b) => (b.ms > a.ms ? b : a));
/** Why the route functions import slower than one client, from the figures above. */
const WHY_SLOWER =
  `a route function needs, on every call, what takes longer to import than the yardstick alone: ` +
  `the four SDK clients (${partMs('the four SDK clients a route function uses')} ms, ${partMs('the same without KMS’s client')} ms without KMS’s), undici ` +
  `(${partMs('undici')} ms) and zod (${partMs('zod')} ms); loading them lazily would only move that ` +
  `time into the first invocation. zod/mini (${partMs('zod/mini')} ms) would save most of zod's share ` +
  `but not the rest. Node's compile cache brings ${slowest.name} to ${slowest.cached.toFixed(0)} ms ` +
  `here, but is not shipped: its entries are keyed by the bundle's absolute path and the exact Node ` +
  `version, Lambda moves nodejs22.x to new minor versions without notice (the cache would then go ` +
  `unused), and packages are built on x86-64 for arm64`;
const authorizer = measured.find((m) => m.name === 'authorizer') as (typeof measured)[number];
printSummary({
  bench: 'cold-start',
  latency: 'none (no call is made)',
  goals: [
    {
      goal: 'authorizer: < 64 KB beyond the bare bundled client',
      measured: `${((authorizer.bytes - bareBytes) / 1024).toFixed(1)} KB`,
      met: authorizer.bytes - bareBytes < 64 * 1024,
    },
    {
      goal: 'every import <= bare bundled client + 150 ms',
      measured: `slowest ${slowest.name}: ${slowest.ms.toFixed(0)} ms against ${sdk.toFixed(0)} ms`,
      met: slowest.ms <= sdk + 150,
      reason: WHY_SLOWER,
    },
    {
      goal: 'every import <= 1.3 x the bare bundled client',
      measured: `slowest ${slowest.name}: ${(slowest.ms / sdk).toFixed(2)} x`,
      met: slowest.ms <= 1.3 * sdk,
      reason: WHY_SLOWER,
    },
  ],
});
