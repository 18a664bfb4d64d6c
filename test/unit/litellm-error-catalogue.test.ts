import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, type LiteLlmFault, readErrorBody } from '../../lib/litellm/error-catalogue.ts';

type Case = [label: string, endpoint: string, status: number, body: unknown, fault: LiteLlmFault];

const proxy = (status: number, message: string, type: string, param: string | null = 'None') => ({
  error: { message, type, param, code: String(status) },
});

/** Bodies as each release sends them (see the catalogue's `since` for the change behind each). */
const CASES: Case[] = [
  [
    'a rotated master key (every release, auth layer)',
    'GET /key/list',
    401,
    proxy(
      401,
      'Authentication Error, Invalid proxy server token passed. Received API Key = sk-...abcd, Key Hash (Token) =00ff. Unable to find token in cache or `LiteLLM_VerificationTokenTable`',
      'token_not_found_in_db',
      'key',
    ),
    'master-key-refused',
  ],
  [
    'a rotated master key on /key/update is not a missing key',
    'POST /key/update',
    401,
    proxy(
      401,
      'Authentication Error, Invalid proxy server token passed. key=00ff, not found in db.',
      'token_not_found_in_db',
      'key',
    ),
    'master-key-refused',
  ],
  [
    'a master key whose message no longer names the hash (newer builds)',
    'GET /key/info',
    401,
    proxy(401, 'Invalid API key', 'token_not_found_in_db', 'key'),
    'master-key-refused',
  ],
  [
    'a master key that is not an sk- token',
    'POST /key/generate',
    401,
    proxy(
      401,
      "Authentication Error, LiteLLM Virtual Key expected. Received=mast****abcd, expected to start with 'sk-'.",
      'auth_error',
    ),
    'master-key-refused',
  ],
  [
    'v1.81: /key/update of an unknown key',
    'POST /key/update',
    401,
    proxy(
      401,
      'Authentication Error: invalid user key - user key does not exist in db. User Key=sk-...',
      'auth_error',
    ),
    'update-refused-unauthorized',
  ],
  [
    'a master key without the sk- prefix on /key/update: the same 401, never "the key is gone"',
    'POST /key/update',
    401,
    proxy(
      401,
      "Authentication Error, LiteLLM Virtual Key expected. Received=mast****abcd, expected to start with 'sk-'.",
      'auth_error',
    ),
    'update-refused-unauthorized',
  ],
  [
    'v1.85 on: /key/update of an unknown key',
    'POST /key/update',
    404,
    proxy(404, "{'error': 'Key not found: sk-...'}", 'auth_error'),
    'key-not-found',
  ],
  [
    '/key/info of an unknown key',
    'GET /key/info',
    404,
    proxy(404, 'Key not found in database', 'not_found_error', 'key'),
    'key-not-found',
  ],
  [
    '/key/delete that matched nothing',
    'POST /key/delete',
    404,
    proxy(404, "{'error': 'No keys found'}", 'internal_server_error'),
    'no-keys-found',
  ],
  ['a path that is not LiteLLM’s key API', 'GET /key/info', 404, { detail: 'Not Found' }, 'route-not-found'],
  [
    'a duplicate alias',
    'POST /key/generate',
    400,
    proxy(
      400,
      "Key with alias 'virtkey-a' already exists. Unique key aliases across all keys are required.",
      'bad_request_error',
      'key_alias',
    ),
    'duplicate-alias',
  ],
  [
    'an alias the enable_key_alias_format_validation rule refuses: the same status, type and param',
    'POST /key/generate',
    400,
    proxy(
      400,
      'Invalid key_alias format. Must be 2-255 characters, start/end with alphanumeric, and only contain a-zA-Z0-9_-/.@.',
      'bad_request_error',
      'key_alias',
    ),
    'alias-format-refused',
  ],
  [
    'an alias a configured pattern refuses (v1.104)',
    'POST /key/update',
    400,
    proxy(400, "Invalid key_alias format. Must match pattern '^lab-.*$'.", 'bad_request_error', 'key_alias'),
    'alias-format-refused',
  ],
  [
    'any other key_alias refusal is read as a duplicate, to be confirmed by its holder',
    'POST /key/generate',
    400,
    proxy(400, 'key_alias is reserved', 'bad_request_error', 'key_alias'),
    'duplicate-alias',
  ],
  [
    'a duplicate alias told only in words',
    'POST /key/generate',
    400,
    proxy(400, "Key with alias 'virtkey-a' already exists.", 'internal_server_error'),
    'duplicate-alias',
  ],
  [
    'a 400 naming another field is not a duplicate alias, whatever its words',
    'POST /key/generate',
    400,
    proxy(400, 'alias already exists in the budget table', 'bad_request_error', 'budget_id'),
    'unexpected',
  ],
  [
    'v1.82.6 on: disable_custom_api_keys',
    'POST /key/generate',
    403,
    proxy(
      403,
      "{'error': 'Custom API key values are disabled by your administrator. Keys must be auto-generated.'}",
      'internal_server_error',
    ),
    'custom-key-refused',
  ],
  [
    'v1.103: a custom_key_policy refusal',
    'POST /key/generate',
    403,
    proxy(403, 'lab keys must not be longer than 90 days', 'internal_server_error'),
    'key-policy-refused',
  ],
  [
    'a master key that is a plain user key',
    'POST /key/delete',
    403,
    proxy(403, 'You are not authorized to delete this key', 'auth_error'),
    'master-key-not-admin',
  ],
  [
    'upperbound_key_generate_params',
    'POST /key/generate',
    400,
    proxy(
      400,
      'Duration 3650d is over max limit set in config - user_api_key_dict.duration=30d',
      'bad_request_error',
    ),
    'over-configured-limit',
  ],
  [
    'v1.81: /key/list?status=expired',
    'GET /key/list',
    400,
    proxy(400, "Invalid status value. Currently only 'deleted' is supported.", 'bad_request_error'),
    'list-filter-refused',
  ],
  [
    'a page size over 100',
    'GET /key/list',
    422,
    {
      detail: [
        { type: 'less_than_equal', loc: ['query', 'size'], msg: 'Input should be less than or equal to 100' },
      ],
    },
    'request-rejected',
  ],
  ['an answer that is not JSON', 'POST /key/generate', 418, 'teapot', 'unexpected'],
];

describe('LiteLLM error catalogue', () => {
  for (const [label, endpoint, status, body, fault] of CASES) {
    it(`${label}: ${fault}`, () => {
      assert.equal(classify(readErrorBody(endpoint, status, body)).fault, fault);
    });
  }

  it('names, for every rule, the releases it comes from', async () => {
    const { ERROR_CATALOGUE } = await import('../../lib/litellm/error-catalogue.ts');
    for (const rule of ERROR_CATALOGUE) assert.ok(rule.since.length > 10, rule.fault);
    const covered = new Set(CASES.map((c) => c[4]));
    assert.deepEqual(
      ERROR_CATALOGUE.map((rule) => rule.fault).filter((f) => !covered.has(f)),
      [],
      'every rule has a case',
    );
  });
});
