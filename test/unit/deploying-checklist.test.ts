import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readServiceFile } from '../support/checks/stack-params.ts';

const DOC = 'docs/deploying.md';
const TABLE_HEADER = '| parameter | default | sets |';

/** The parameters the table's rows name: every backticked name in each row's first column. */
function tableParameters(doc: string): string[] {
  const lines = doc.split('\n');
  const header = lines.indexOf(TABLE_HEADER);
  assert.ok(header >= 0, `${DOC} has the parameter table (${TABLE_HEADER})`);
  const rows = lines.slice(header + 2);
  const end = rows.findIndex((line) => !line.startsWith('|'));
  return rows
    .slice(0, end < 0 ? rows.length : end)
    .flatMap((row) =>
      [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map(([, name]) => name as string),
    );
}

/** Every `--param="name=value"` (or `--param "name=..."`) the checklist's commands pass. */
function commandParameters(doc: string): string[] {
  return [...doc.matchAll(/--param[= ]"([A-Za-z0-9]+)=/g)].map(([, name]) => name as string);
}

describe(`${DOC}, the checklist a new operator deploys from`, () => {
  const doc = readFileSync(DOC, 'utf8');
  const parameters = Object.keys(readServiceFile().params);

  it('documents every stage parameter of serverless.yml, and none it does not have', () => {
    const documented = tableParameters(doc);
    const duplicated = documented.filter((name, index) => documented.indexOf(name) !== index);
    assert.deepEqual(duplicated, [], 'parameters in more than one row');
    assert.deepEqual(
      parameters.filter((name) => !documented.includes(name)),
      [],
      `parameters of serverless.yml missing from ${DOC}'s table`,
    );
    assert.deepEqual(
      documented.filter((name) => !parameters.includes(name)),
      [],
      `${DOC}'s table names parameters serverless.yml does not have`,
    );
  });

  it('deploys with npm run deploy, passing only parameters the stack has, lab-event senders among them', () => {
    const passed = commandParameters(doc);
    assert.ok(passed.includes('labEventPrincipals'), 'the example names who may send lab events');
    assert.deepEqual(
      passed.filter((name) => !parameters.includes(name)),
      [],
      'the commands pass parameters the stack does not have',
    );
    assert.match(doc, /npm run deploy -- --stage /);
  });
});
