import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAuthorizerConfig } from '../../lib/auth/authorizer-config.ts';
import { readConfig } from '../../lib/config.ts';
import { SERVICE_FUNCTIONS, SETTINGS } from '../../lib/settings.ts';
import { CONFIGURATION_DOC, withSettingsTable } from '../../scripts/configuration-doc.ts';
import { readServiceFile } from '../support/checks/stack-params.ts';

/** The code the functions run: every environment variable it names must be declared. */
const SOURCE_DIRS = ['lib', 'functions'];
/** A read through lib/env.ts or a reader like it (`text(env, 'X')`), `env.X`, `process.env.X` or `env['X']`. */
const READS = [
  /\benv, '([A-Z][A-Z0-9_]*)'/g,
  /\benv\.([A-Z][A-Z0-9_]*)/g,
  /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Each variable the code names, with the files naming it. */
function variablesRead(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    if (file === join('lib', 'settings.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const pattern of READS)
      for (const [, name] of text.matchAll(pattern))
        found.set(name as string, [...(found.get(name as string) ?? []), file]);
  }
  return found;
}

const declared = Object.entries(SETTINGS);

describe('the declaration of settings (lib/settings.ts)', () => {
  it('declares every variable the functions read, and nothing they do not', () => {
    const read = variablesRead();
    const undeclared = [...read].filter(([name]) => !Object.hasOwn(SETTINGS, name));
    assert.deepEqual(undeclared, [], 'read but not declared in lib/settings.ts (variable, files)');
    const unread = declared
      .filter(([name, setting]) => setting.readOutside === undefined && !read.has(name))
      .map(([name]) => name);
    assert.deepEqual(unread, [], 'declared but read nowhere in lib/ or functions/');
  });

  it('gives each setting a meaning and one way to be unset: a default or a word on what unset means', () => {
    for (const [name, setting] of declared) {
      assert.ok(setting.meaning.length > 10, `${name} has a meaning`);
      assert.ok(setting.default !== undefined || setting.unset !== undefined, `${name}: default or unset`);
      assert.ok(
        setting.parameter === undefined || setting.stackValue === undefined,
        `${name}: parameter or stack value`,
      );
      assert.ok(setting.readers === 'all' || setting.readers.length > 0, `${name} is read by some function`);
    }
  });

  it('names as service functions exactly those whose handler reads the service configuration', () => {
    const { functions } = readServiceFile();
    const readingConfig = Object.entries(functions)
      .filter(([, fn]) => {
        const handler = (fn as { handler: string }).handler.replace(/\.[^.]+$/, '.ts');
        return /\bgetConfig\b/.test(readFileSync(handler, 'utf8'));
      })
      .map(([name]) => name);
    assert.deepEqual([...SERVICE_FUNCTIONS].sort(), readingConfig.sort());
  });

  it('is where the readers take their defaults from: unset is the same as set to the declared default', () => {
    const required = {
      LITELLM_URL: 'https://litellm.example.com',
      LITELLM_MASTER_KEY_SECRET_ID: 'litellm/master',
      API_TOKENS_SECRET_ID: 'litellm/tokens',
      LABS_TABLE: 'labs',
      KEY_VALUES_KMS_KEY_ID: 'arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab',
    };
    const defaults = Object.fromEntries(
      declared.flatMap(([name, setting]) => (setting.default === undefined ? [] : [[name, setting.default]])),
    );
    assert.deepEqual(readConfig(required), readConfig({ ...defaults, ...required }));
    assert.deepEqual(readAuthorizerConfig(required), readAuthorizerConfig({ ...defaults, ...required }));
    // And the declared defaults are the values the configuration documents.
    const config = readConfig(required);
    assert.equal(config.litellm.timeoutMs, Number(SETTINGS.LITELLM_TIMEOUT_MS.default));
    assert.equal(config.litellm.maxConnections, Number(SETTINGS.LITELLM_MAX_CONNECTIONS.default));
    assert.equal(config.secretsCacheMs, Number(SETTINGS.SECRETS_CACHE_MS.default));
    assert.equal(config.labUserBase, SETTINGS.LAB_USER_BASE.default);
    assert.equal(
      readAuthorizerConfig(required).apiTokensCacheMs,
      Number(SETTINGS.API_TOKENS_CACHE_MS.default),
    );
  });

  it('has each stage parameter in serverless.yml, with the variable’s default (or the stack’s own, where declared)', () => {
    const { params } = readServiceFile();
    for (const [name, setting] of declared) {
      if (setting.parameter === undefined) continue;
      assert.ok(Object.hasOwn(params, setting.parameter), `${name}: params.default.${setting.parameter}`);
      const expected = setting.stackDefault ?? setting.default;
      if (expected !== undefined)
        assert.equal(String(params[setting.parameter]), expected, `${name}: default of ${setting.parameter}`);
    }
  });

  it(`is what ${CONFIGURATION_DOC}'s table says`, () => {
    const doc = readFileSync(CONFIGURATION_DOC, 'utf8');
    assert.ok(withSettingsTable(doc) === doc, `${CONFIGURATION_DOC} is out of date: run npm run docs`);
  });
});
