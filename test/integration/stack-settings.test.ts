import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readAuthorizerConfig } from '../../lib/auth/authorizer-config.ts';
import { readConfig } from '../../lib/config.ts';
import { SERVICE_FUNCTIONS, SETTINGS, type Setting } from '../../lib/settings.ts';
import { deployedResources, type Resources } from '../support/checks/packaging.ts';
import { readServiceFile } from '../support/checks/stack-params.ts';
import { runServerless } from '../support/fixtures/package-service.ts';

/** A package catalogue as an operator would pass it: quotes, commas, spaces and `=` in one line. */
const CATALOGUE = {
  workshop: { models: ['granite-3-2-8b-instruct', 'mistral 7b=v2'], duration: '3d', max_budget: 2.5 },
  'ai-researcher': { models: ['llama-scout-17b'], duration: '90d', tpm_limit: 10000, rpm_limit: 60 },
};

/**
 * A value of its own for each parameter that sets a variable, each one the configuration accepts,
 * so that every parameter is seen to reach its variable and no other. Production-like where the
 * stack reads it too: two targets, an existing KMS key.
 */
const SAMPLES: Readonly<Record<string, string>> = {
  litellmUrl: 'https://litellm.sample.example',
  litellmPublicUrl: 'https://models.sample.example',
  masterKeySecretId: 'sample/master-key',
  litellmTargets: JSON.stringify({
    default: { url: 'https://litellm.sample.example', master_key_secret_id: 'sample/master-key' },
    east: {
      url: 'http://east.internal:4000',
      master_key_secret_id: 'sample/master-key-east',
      max_connections: 20,
    },
  }),
  labsTable: 'sample-ledger',
  apiTokensSecretId: 'sample/api-tokens',
  apiTokensCacheMs: '30000',
  defaultPackage: 'workshop',
  packagesJson: JSON.stringify(CATALOGUE),
  litellmTimeoutMs: '20000',
  litellmRetries: '2',
  litellmVerifyTls: 'false',
  litellmMaxConnections: '16',
  labUserDomain: 'lab.sample.example',
  labUserBase: 'student',
  userIdDomains: 'sample.example,lab.sample.example',
  litellmAdminUserIds: 'admin@sample.example',
  keyValuesKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab',
  databaseCaFile: '/opt/sample-ca.pem',
  forceDbDelete: 'true',
  roleKeysTakeoverUntil: '2027-03-31T00:00:00Z',
  roleKeysTakeoverClients: 'rhdp,ops',
  labEventSource: 'rhdp.sample',
  eventBusName: 'sample-results',
  secretsCacheMs: '120000',
  sweepGrace: '2h',
  warnBefore: '48h',
  reconcileCalls: '7',
  reconcileGrace: '3h',
  logLevel: 'warn',
  tracing: 'true',
};

/** Lambda's limit on a function's whole environment (names and values). */
const ENVIRONMENT_LIMIT_BYTES = 4096;

const declared = Object.entries(SETTINGS) as [string, Setting][];
const logicalId = (name: string) => `${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`;
const readsIt = (setting: Setting, fn: string) => setting.readers === 'all' || setting.readers.includes(fn);
/** A setting in provider.environment must be read by every service function at least. */
const servesAll = (setting: Setting) =>
  setting.readers === 'all' || SERVICE_FUNCTIONS.every((fn) => setting.readers.includes(fn));

let resources: Resources;
const scratch = mkdtempSync(join(tmpdir(), 'stack-settings-'));

before(() => {
  const params = declared.flatMap(([, setting]) => (setting.parameter ? [setting.parameter] : []));
  const missing = params.filter((param) => SAMPLES[param] === undefined);
  assert.deepEqual(missing, [], 'parameters without a sample value in this test');
  const run = runServerless([
    'package',
    '--stage',
    'ci',
    '--package',
    scratch,
    ...params.flatMap((param) => ['--param', `${param}=${SAMPLES[param]}`]),
  ]);
  assert.equal(run.status, 0, `serverless package failed:\n${run.stdout}\n${run.stderr}`);
  resources = deployedResources(
    JSON.parse(readFileSync(join(scratch, 'cloudformation-template-update-stack.json'), 'utf8')),
  );
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Each function of the stack by its serverless.yml name, with its environment as deployed. */
function environments(): Map<string, Record<string, unknown>> {
  const { functions } = readServiceFile();
  return new Map(
    Object.keys(functions).map((fn) => {
      const resource = resources[logicalId(fn)];
      assert.ok(resource, `${fn} is in the template`);
      const variables = (
        resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined
      )?.Variables;
      return [fn, variables ?? {}];
    }),
  );
}

describe('the packaged stack’s settings (lib/settings.ts)', () => {
  it('gives each function the settings it reads, each from its own parameter', () => {
    for (const [fn, env] of environments()) {
      for (const [name, setting] of declared) {
        // A setting with neither a parameter nor a stack value keeps its default in AWS.
        if (!readsIt(setting, fn) || (setting.parameter ?? setting.stackValue) === undefined) continue;
        assert.ok(name in env, `${fn} reads ${name} and is not given it`);
        if (setting.parameter) assert.equal(env[name], SAMPLES[setting.parameter], `${fn} ${name}`);
        const literal = /^`([^`]*)`$/.exec(setting.stackValue ?? '')?.[1];
        if (literal !== undefined) assert.equal(env[name], literal, `${fn} ${name}`);
      }
    }
  });

  it('gives a function no variable it does not read, but those every function is given', () => {
    const { providerEnvironment } = readServiceFile();
    for (const [name] of Object.entries(providerEnvironment)) {
      const setting = SETTINGS[name as keyof typeof SETTINGS] as Setting | undefined;
      assert.ok(setting, `provider.environment's ${name} is declared in lib/settings.ts`);
      assert.ok(
        servesAll(setting),
        `${name} is in provider.environment but only ${String(setting.readers)} read it`,
      );
    }
    for (const [fn, env] of environments()) {
      for (const name of Object.keys(env)) {
        const setting = SETTINGS[name as keyof typeof SETTINGS] as Setting | undefined;
        assert.ok(setting, `${fn}'s ${name} is declared in lib/settings.ts`);
        assert.ok(
          readsIt(setting, fn) || name in providerEnvironment,
          `${fn} is given ${name}, which it does not read`,
        );
      }
    }
  });

  it('passes a JSON catalogue given by --param intact, and a configuration every function accepts', () => {
    for (const [fn, env] of environments()) {
      const variables = env as Record<string, string>;
      if (SERVICE_FUNCTIONS.some((service) => service === fn)) {
        assert.equal(variables.PACKAGES_JSON, SAMPLES.packagesJson, fn);
        const config = readConfig(variables);
        assert.deepEqual(config.packages, CATALOGUE, fn);
        assert.equal(config.defaultPackage, 'workshop', fn);
        assert.deepEqual([...config.targets.keys()], ['default', 'east'], fn);
        assert.equal(config.targets.get('east')?.maxConnections, 20, fn);
        assert.equal(config.litellm.maxConnections, 16, fn);
        assert.equal(config.litellm.verifyTls, false, fn);
      }
      if (fn === 'authorizer')
        assert.deepEqual(readAuthorizerConfig(variables), {
          apiTokensSecretId: 'sample/api-tokens',
          apiTokensCacheMs: 30_000,
        });
      const size = Object.entries(env).reduce(
        (sum, [name, value]) => sum + name.length + String(value).length,
        0,
      );
      assert.ok(size < ENVIRONMENT_LIMIT_BYTES, `${fn}'s environment is ${size} bytes, over Lambda's 4 KB`);
    }
  });
});
