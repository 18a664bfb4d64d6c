import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequestError, UnavailableError } from '../../lib/errors.ts';
import { problemResponse } from '../../lib/http.ts';
import { redact, registerSecret } from '../../lib/log.ts';
import { readMasterSecret } from '../../lib/master-key.ts';
import { toProblem } from '../../lib/problems.ts';

describe('problem responses', () => {
  it('are RFC 9457 bodies with the field errors', () => {
    const response = problemResponse(
      new BadRequestError('bad guid', [{ field: 'guid', message: 'is required' }]),
    );

    assert.equal(response.statusCode, 400);
    assert.equal(response.headers?.['content-type'], 'application/problem+json');
    assert.deepEqual(JSON.parse(String(response.body)), {
      type: 'urn:litellm-virtual-keys:problem:invalid-request',
      title: 'Invalid request',
      status: 400,
      detail: 'bad guid',
      errors: [{ field: 'guid', message: 'is required' }],
    });
  });

  it('carry Retry-After on 503', () => {
    assert.equal(problemResponse(new UnavailableError('down', 12)).headers?.['retry-after'], '12');
  });

  it('say nothing of unknown errors', () => {
    const mapped = toProblem(new TypeError('secret detail sk-abcdefgh'));

    assert.equal(mapped.status, 500);
    assert.ok(!mapped.message.includes('secret detail'));
  });

  it('turn middy’s body-parser errors into 400s and AWS outages into 503s', () => {
    const parserError = Object.assign(new Error('Invalid or malformed JSON was provided'), {
      statusCode: 415,
    });
    assert.equal(toProblem(parserError).status, 400);
    const sdkError = Object.assign(new Error('connect ECONNREFUSED'), {
      name: 'Error',
      $metadata: { attempts: 3 },
    });
    assert.equal(toProblem(sdkError).status, 503);
    const denied = Object.assign(new Error('denied'), {
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 400 },
    });
    assert.equal(toProblem(denied).status, 500);
  });
});

describe('redaction', () => {
  it('removes sk- tokens and registered secrets', () => {
    registerSecret('postgres://litellm:hunter22@db:5432/litellm');

    const text = redact('key sk-AbC_123-xyz and postgres://litellm:hunter22@db:5432/litellm here');

    assert.equal(text, 'key sk-[redacted] and [redacted] here');
  });
});

describe('master-key secret', () => {
  it('accepts a plain key or the JSON form', () => {
    assert.deepEqual(readMasterSecret('sk-plain-master'), { masterKey: 'sk-plain-master' });
    assert.deepEqual(readMasterSecret({ master_key: 'sk-json', database_url: 'postgres://u:p@h/d' }), {
      masterKey: 'sk-json',
      databaseUrl: 'postgres://u:p@h/d',
    });
  });

  it('refuses anything else, naming the variable', () => {
    for (const value of [undefined, '', {}, { masterKey: 'sk-x' }, 42]) {
      assert.throws(() => readMasterSecret(value), /LITELLM_MASTER_KEY_SECRET_ID/);
    }
  });
});
