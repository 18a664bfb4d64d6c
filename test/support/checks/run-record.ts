/**
 * The whole-run leak check's evidence. `npm test` preloads this module into every test process
 * (`--import`): it keeps every byte the process writes to stdout and stderr, the output of the
 * child processes the tests start, and every secret the stand-ins came to hold (master keys, API
 * tokens, database URLs, virtual keys). At exit it leaves them in a folder shared by one test run,
 * named after the test runner's pid; `test/whole-run/leaks.test.ts`, the last file of the run,
 * reads them all.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunRecord {
  /** The test file this process ran. */
  readonly file: string;
  readonly output: string[];
  readonly secrets: string[];
}

/** One folder per test run: every test file's process is a child of the same runner. */
export const runFolder = () => join(tmpdir(), `litellm-virtual-keys-test-run-${process.ppid}`);

/** Only `npm test` preloads this module; other runs (one file, test:unit, benches) record nothing. */
let recording = process.execArgv.some((arg) => arg.includes('run-record'));
const output: string[] = [];
const secrets = new Set<string>();

/** Output that did not go through this process's stdout or stderr (a child's, or lines a test swallows). */
export function recordOutput(text: string | Uint8Array): void {
  if (recording) output.push(typeof text === 'string' ? text : Buffer.from(text).toString('latin1'));
}

/** A value that must never appear in any output of the run. */
export function recordSecret(value: string): void {
  if (recording && value.length >= 8) secrets.add(value);
}

/**
 * A Secrets Manager value: every string in it when an operator stored it (master key, API tokens,
 * database URL; not a client's scopes and limits), only its `sk-` strings when the service did (a stored key's guid and dates are not secret).
 */
export function recordSecretValue(value: string, storedBy: 'operator' | 'service'): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = value;
  }
  // A scoped client's scopes and limits are names every answer may use ("provision", a package).
  const grants = new Set(['scopes', 'limits']);
  const leaves = (node: unknown): string[] =>
    typeof node === 'string'
      ? [node]
      : node && typeof node === 'object'
        ? Object.entries(node).flatMap(([name, child]) => (grants.has(name) ? [] : leaves(child)))
        : [];
  for (const s of leaves(parsed)) if (storedBy === 'operator' || s.startsWith('sk-')) recordSecret(s);
}

/** For the file that reads the records: it leaves none of its own behind. */
export function stopRecording(): void {
  recording = false;
}

function tee(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) recordOutput(chunk);
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

if (recording) {
  tee(process.stdout);
  tee(process.stderr);
  process.on('exit', () => {
    const file = process.argv.find((arg) => arg.endsWith('.test.ts'));
    if (!file || !recording) return;
    const folder = runFolder();
    mkdirSync(folder, { recursive: true });
    const record: RunRecord = { file, output, secrets: [...secrets] };
    writeFileSync(join(folder, `${process.pid}.json`), JSON.stringify(record));
  });
}
