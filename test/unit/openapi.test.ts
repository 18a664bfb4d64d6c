import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { readConfig } from '../../lib/config.ts';
import { parseDestroyRequest } from '../../lib/destroy/request.ts';
import { parseExtendRequest } from '../../lib/extend/request.ts';
import { parseProvisionRequest } from '../../lib/provision/request.ts';
import { withPathGuid } from '../../lib/schemas.ts';
import {
  eventDetailValidator,
  type OpenApiOperation,
  openApi,
  openApiValidator,
} from '../support/checks/doc-schemas.ts';

/**
 * docs/openapi.yaml and docs/events/lab-events.schema.json are held against the functions' own
 * validation: over a corpus of inputs, the documented schema and the service must agree on what is
 * valid. What JSON Schema cannot say (a package of the deployment's catalogue, a term of at most ten
 * years, an instant in the future) is listed, and must be exactly where they part.
 */
const config = readConfig({
  LITELLM_URL: 'https://litellm.example.com',
  LITELLM_MASTER_KEY_SECRET_ID: 'master',
  FORCE_DB_DELETE: 'true',
  LABS_TABLE: 'labs',
  KEY_VALUES_KMS_KEY_ID: 'alias/litellm-virtual-keys',
});

const operation = (path: string, method: string) => openApi.paths[path]?.[method] as OpenApiOperation;
const bodySchema = (path: string, method: string) =>
  openApiValidator(operation(path, method).requestBody?.content['application/json']?.schema);

const accepts = (parse: () => unknown) => {
  try {
    parse();
    return true;
  } catch (error) {
    if ((error as { status?: number }).status === 400) return false;
    throw error;
  }
};

type Case = readonly [label: string, input: unknown];

/** Where the schema and the service part, and why; anything else must agree. */
function disagreements(
  cases: readonly Case[],
  schema: (input: unknown) => boolean,
  service: (input: unknown) => boolean,
) {
  return cases
    .map(([label, input]) => ({ label, schema: schema(input), service: service(input) }))
    .filter((verdict) => verdict.schema !== verdict.service)
    .map(
      (verdict) =>
        `${verdict.label}: schema ${verdict.schema ? 'accepts' : 'refuses'}, service ${verdict.service ? 'accepts' : 'refuses'}`,
    );
}

const base = { guid: 'abc12' };
const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const provisionCases: Case[] = [
  ['guid only', base],
  ['one-letter guid', { guid: 'a' }],
  ['40-char guid', { guid: 'a'.repeat(40) }],
  ['guid with dash', { guid: 'ab-12' }],
  [
    'every field',
    {
      guid: 'abc12',
      package: 'lab-dev',
      models: ['granite-3-2-8b-instruct', 'mistral-7b-instruct'],
      duration: '14d',
      user_id: 'student@lab.opentlc.com',
      max_budget: 10.5,
      metadata: { catalog_item: 'ai-workshop', 'env.stage:x-y_z': 'prod' },
    },
  ],
  ['user list', { ...base, users: ['alice', 'bob-2'] }],
  ['200 users', { ...base, users: 200 }],
  ['users with a base', { ...base, users: 3, user_base: 'student' }],
  ['37-char user base', { ...base, users: 200, user_base: 'b'.repeat(37) }],
  ['user base ending in a dash', { ...base, users: 2, user_base: 'team-' }],
  ['null budget', { ...base, max_budget: null }],
  ['zero budget', { ...base, max_budget: 0 }],
  ...['30m', '168h', '3mo', '2w', '45s', '007d', '1d'].map(
    (d): Case => [`duration ${d}`, { ...base, duration: d }],
  ),
  ['20 metadata entries', { ...base, metadata: Object.fromEntries(many(20, (i) => [`k${i}`, 'v'])) }],
  ['missing guid', { package: 'ai-beginner' }],
  ...['', 'ABC', '-abc', 'abc-', 'a'.repeat(41), 'ab_c', 'ab c', 'ab.c'].map(
    (g): Case => [`guid "${g}"`, { guid: g }],
  ),
  ['numeric guid', { guid: 12 }],
  ['empty package', { ...base, package: '' }],
  ['numeric package', { ...base, package: 5 }],
  ['long package', { ...base, package: 'x'.repeat(65) }],
  ['no models', { ...base, models: [] }],
  ['empty model', { ...base, models: [''] }],
  ['repeated model', { ...base, models: ['m', 'm'] }],
  ['models as a string', { ...base, models: 'granite' }],
  ['numeric model', { ...base, models: [1] }],
  ['101 models', { ...base, models: many(101, (i) => `m${i}`) }],
  ...['7', 'd7', '7 d', '7days', '0d', '0000mo', '7D', '1y', '', '1234567890d'].map(
    (d): Case => [`duration "${d}"`, { ...base, duration: d }],
  ),
  ['numeric duration', { ...base, duration: 7 }],
  ['empty user_id', { ...base, user_id: '' }],
  ['user_id with space', { ...base, user_id: 'a b' }],
  ['user_id with control character', { ...base, user_id: 'a\u0007b' }],
  ['long user_id', { ...base, user_id: 'x'.repeat(256) }],
  ['numeric user_id', { ...base, user_id: 5 }],
  ...[0, 201, 2.5, -1].map((n): Case => [`users ${n}`, { ...base, users: n }]),
  ['no users', { ...base, users: [] }],
  ['repeated user', { ...base, users: ['alice', 'alice'] }],
  ['capitalised user', { ...base, users: ['Alice'] }],
  ['users as text', { ...base, users: 'three' }],
  ['201 user names', { ...base, users: many(201, (i) => `u${i}`) }],
  ['user base without users', { ...base, user_base: 'student' }],
  ['user base with user names', { ...base, users: ['ann'], user_base: 'student' }],
  ...['', '-x', 'Student', 'b'.repeat(38), 'a_b'].map(
    (b): Case => [`user base "${b}"`, { ...base, users: 2, user_base: b }],
  ),
  ['user_id with users', { ...base, users: 2, user_id: 'owner@example.com' }],
  ['negative budget', { ...base, max_budget: -1 }],
  ['budget below a millionth', { ...base, max_budget: 2.8e-133 }],
  ['budget over a billion', { ...base, max_budget: 2e9 }],
  ['budget as text', { ...base, max_budget: '10' }],
  ...['managed_by', 'guid', 'user', 'package', 'models', 'duration', 'owner'].map(
    (name): Case => [`metadata ${name}`, { ...base, metadata: { [name]: 'x' } }],
  ),
  ['metadata name with space', { ...base, metadata: { 'bad key': 'x' } }],
  ['numeric metadata value', { ...base, metadata: { a: 1 } }],
  ['long metadata value', { ...base, metadata: { a: 'x'.repeat(257) } }],
  ['21 metadata entries', { ...base, metadata: Object.fromEntries(many(21, (i) => [`k${i}`, 'v'])) }],
  ['metadata as a list', { ...base, metadata: [] }],
  ['misspelt field', { ...base, pakage: 'ai-beginner' }],
  ['a list', []],
  ['text', 'abc12'],
  ['null', null],
];
/** JSON Schema cannot know the deployment's catalogue or count ten years. */
const provisionBeyondSchema: Case[] = [
  ['unknown package', { ...base, package: 'no-such-package' }],
  ['duration over ten years', { ...base, duration: '3654d' }],
  ['ten years and a month', { ...base, duration: '121mo' }],
];
const schemaOnlyAccepts = (cases: readonly Case[]) =>
  cases.map(([label]) => `${label}: schema accepts, service refuses`);

const future = new Date(Date.now() + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const extendCases: Case[] = [
  ['duration', { duration: '7d' }],
  ['expires in UTC', { expires: future }],
  ['expires with an offset', { expires: future.replace('Z', '+02:00') }],
  ['expires with milliseconds', { expires: future.replace('Z', '.250Z') }],
  ['neither', {}],
  ['both', { duration: '7d', expires: future }],
  ['zero duration', { duration: '0d' }],
  ['numeric duration', { duration: 7 }],
  ['date only', { expires: future.slice(0, 10) }],
  ['no zone', { expires: future.replace('Z', '') }],
  ['words', { expires: 'tomorrow' }],
  ['unknown field', { duration: '7d', extra: 1 }],
  ['guid in the body', { guid: 'other', duration: '7d' }],
  ['a list', []],
];
const extendBeyondSchema: Case[] = [
  ['expires in the past', { expires: '2020-01-01T00:00:00Z' }],
  ['expires in eleven years', { expires: `${Number(future.slice(0, 4)) + 11}${future.slice(4)}` }],
  ['duration over ten years', { duration: '3654d' }],
  ['ten years and a month', { duration: '121mo' }],
];

describe('docs/openapi.yaml', () => {
  it('documents exactly the routes serverless.yml serves, each behind the bearer token', () => {
    const service = parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'silent' }) as {
      functions: Record<string, { events?: { httpApi?: { method: string; path: string } }[] }>;
    };
    const served = Object.values(service.functions)
      .flatMap((fn) => fn.events ?? [])
      .flatMap((event) =>
        event.httpApi ? [`${event.httpApi.method.toLowerCase()} ${event.httpApi.path}`] : [],
      )
      .sort();
    const documented = Object.entries(openApi.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((key) => key !== 'parameters')
          .map((method) => `${method} ${path}`),
      )
      .sort();
    assert.deepEqual(documented, served);
    assert.deepEqual((openApi as unknown as { security: unknown }).security, [{ bearerToken: [] }]);
  });

  it('POST /keys: the body schema and the service agree on every input of the corpus', () => {
    const schema = bodySchema('/keys', 'post');
    const service = (input: unknown) => accepts(() => parseProvisionRequest(input, 'http', config));
    assert.deepEqual(
      disagreements(provisionCases, (i) => schema(i), service),
      [],
    );
    assert.deepEqual(
      disagreements(provisionBeyondSchema, (i) => schema(i), service),
      schemaOnlyAccepts(provisionBeyondSchema),
    );
  });

  it('POST /keys/{guid}/extend: the body schema and the service agree', () => {
    const schema = bodySchema('/keys/{guid}/extend', 'post');
    const service = (input: unknown) =>
      accepts(() => parseExtendRequest(withPathGuid(input, 'abc12'), 'http'));
    assert.deepEqual(
      disagreements(extendCases, (i) => schema(i), service),
      [],
    );
    assert.deepEqual(
      disagreements(extendBeyondSchema, (i) => schema(i), service),
      schemaOnlyAccepts(extendBeyondSchema),
    );
  });

  it('the {guid} path parameter and the force_db_delete query agree with the service', () => {
    const destroy = operation('/keys/{guid}', 'delete');
    const guidSchema = openApiValidator({ $ref: '#/components/schemas/Name' });
    const querySchema = openApiValidator({
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        (destroy.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p.schema]),
      ),
    });
    const cases: Case[] = [
      ...['abc12', 'a', 'a'.repeat(40), 'ABC', '-a', 'a'.repeat(41), 'a_b'].map(
        (g): Case => [`guid ${g}`, { guid: g }],
      ),
      ...['true', 'false', 'yes', '1', ''].map(
        (v): Case => [`force_db_delete=${v}`, { guid: 'abc12', force_db_delete: v }],
      ),
      ['other query parameter', { guid: 'abc12', dry_run: 'true' }],
    ];
    const schema = ({ guid, ...query }: { guid: string }) => guidSchema(guid) && querySchema(query);
    assert.deepEqual(
      disagreements(
        cases,
        (i) => schema(i as { guid: string }),
        (i) => accepts(() => parseDestroyRequest(i, 'http', config)),
      ),
      [],
    );
  });
});

describe('docs/events/lab-events.schema.json', () => {
  const labEvent = (detailType: string) => eventDetailValidator('lab-events', detailType);

  it('Lab Provisioned: the detail schema and the service agree (other fields are ignored)', () => {
    const schema = labEvent('Lab Provisioned');
    const service = (input: unknown) => accepts(() => parseProvisionRequest(input, 'event', config));
    assert.deepEqual(
      disagreements(provisionCases, (i) => schema(i), service),
      [],
    );
    assert.ok(schema({ ...base, pakage: 'x', catalog_item: 'y' }));
    assert.deepEqual(
      disagreements(provisionBeyondSchema, (i) => schema(i), service),
      schemaOnlyAccepts(provisionBeyondSchema),
    );
  });

  it('Lab Extended: the detail schema and the service agree', () => {
    const schema = labEvent('Lab Extended');
    const cases = extendCases
      .filter(([label]) => label !== 'guid in the body' && label !== 'a list')
      .map(([label, input]): Case => [label, { guid: 'abc12', ...(input as object) }]);
    const service = (input: unknown) => accepts(() => parseExtendRequest(input, 'event'));
    assert.deepEqual(
      disagreements([...cases, ['no guid', { duration: '7d' }]], (i) => schema(i), service),
      [],
    );
  });

  it('Lab Destroyed: the detail schema and the service agree', () => {
    const schema = labEvent('Lab Destroyed');
    const cases: Case[] = [
      ['guid only', base],
      ...[true, false, 'true', 'false', 'yes', 1, null].map(
        (v): Case => [`force_db_delete ${JSON.stringify(v)}`, { ...base, force_db_delete: v }],
      ),
      ['no guid', {}],
      ['bad guid', { guid: 'A' }],
      ['other fields', { ...base, reason: 'lab retired' }],
    ];
    const service = (input: unknown) => accepts(() => parseDestroyRequest(input, 'event', config));
    assert.deepEqual(
      disagreements(cases, (i) => schema(i), service),
      [],
    );
  });
});
