/**
 * The last file of `npm test` (node's runner takes files in the order given, `whole-run/` last, and
 * this file waits for the one still running beside it): every byte any test process wrote, and the log lines of the processes they started, must
 * be free of every secret any of them held: master keys, API tokens, database URLs, virtual keys.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { after, it } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { type RunRecord, runFolder, stopRecording } from '../support/checks/run-record.ts';

const folder = runFolder();
const thisFile = resolve(process.argv.find((arg) => arg.endsWith('.test.ts')) ?? '');

function readRecords(): RunRecord[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  return names.map((name) => JSON.parse(readFileSync(join(folder, name), 'utf8')) as RunRecord);
}

/** Places where a secret occurs, each shown as its file and the line with the secret masked. */
function leaksIn(record: RunRecord, secrets: Set<string>): string[] {
  const text = record.output.join('');
  const found = new Set<string>();
  // `sk-` values (virtual and master keys) can number thousands: match tokens, then look each up,
  // also as a prefix, since a key may run into the characters after it.
  const skLengths = [...new Set([...secrets].filter((s) => s.startsWith('sk-')).map((s) => s.length))];
  for (const match of text.matchAll(/sk-[A-Za-z0-9_\-.~+/=]+/g)) {
    const hit = skLengths.map((n) => match[0].slice(0, n)).find((candidate) => secrets.has(candidate));
    if (hit) found.add(hit);
  }
  for (const secret of secrets) if (!secret.startsWith('sk-') && text.includes(secret)) found.add(secret);
  return [...found].map((secret) => {
    const line = text.split('\n').find((l) => l.includes(secret)) ?? '';
    return `${relative('.', record.file)}: ${line.split(secret).join('[secret]').slice(0, 300)}`;
  });
}

after(() => {
  stopRecording();
  rmSync(folder, { recursive: true, force: true });
});

/** Test files whose process has not left its record yet. */
function unrecordedFiles(): string[] {
  const testFiles = readdirSync('test', { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => resolve('test', file));
  const recorded = new Set(readRecords().map((record) => resolve(record.file)));
  return testFiles
    .filter((file) => file !== thisFile && !recorded.has(file))
    .map((file) => relative('.', file));
}

/**
 * `npm test` runs two files at a time and this one last, so the file beside it may still be running:
 * wait for its record (written when its process exits) for as long as one file may take.
 */
const WAIT_FOR_OTHERS_MS = 10 * 60_000;

it('has the record of every other test file of the run', async () => {
  const waitUntil = Date.now() + WAIT_FOR_OTHERS_MS;
  while (unrecordedFiles().length > 0 && Date.now() < waitUntil) await setTimeout(500);
  assert.deepEqual(unrecordedFiles(), [], 'run this file through `npm test`, after every other test file');
});

it('finds no secret any test process held in any output of the run', (t) => {
  const records = readRecords();
  const secrets = new Set(records.flatMap((record) => record.secrets));
  const leaks = records.flatMap((record) => leaksIn(record, secrets));
  const bytes = records.reduce((sum, record) => sum + record.output.join('').length, 0);
  t.diagnostic(
    `scanned ${(bytes / 1e6).toFixed(1)} MB of output from ${records.length} test processes for ${secrets.size} secrets`,
  );
  assert.ok(secrets.size > 1000, 'the burst suite alone issues 1,000 keys');
  assert.deepEqual(leaks, []);
});
