import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatedKeyOf, keyRecordOf, listPageOf } from '../../lib/litellm/answers.ts';
import { toProblem } from '../../lib/problems.ts';

/** The problem a caller would see for what the check threw. */
function problemFor(read: () => unknown) {
  try {
    read();
  } catch (error) {
    const mapped = toProblem(error);
    return { status: mapped.status, detail: mapped.message };
  }
  assert.fail('the answer was accepted');
}

describe('LiteLLM answers, checked where they enter', () => {
  it('takes a key row with the fields a release leaves out set to "not set", and keeps unknown ones', () => {
    const record = keyRecordOf(
      { token: 'abc', models: ['m'], spend: null, allowed_routes: ['llm_api_routes'] },
      'GET /key/info',
    );
    assert.deepEqual(
      [record.key_alias, record.expires, record.user_id, record.metadata, record.spend],
      [null, null, null, null, undefined],
    );
    assert.deepEqual(Object.entries(record).find(([name]) => name === 'allowed_routes')?.[1], [
      'llm_api_routes',
    ]);
  });

  it('turns a changed shape into a 502 naming the endpoint and the field', () => {
    assert.equal(problemFor(() => keyRecordOf({ models: 'granite' }, 'GET /key/info info')).status, 502);
    assert.match(
      problemFor(() => keyRecordOf({ models: 'granite' }, 'GET /key/info info')).detail,
      /GET \/key\/info info.*models/,
    );
    assert.match(
      problemFor(() => generatedKeyOf({ token: 'x' }, 'POST /key/generate')).detail,
      /POST \/key\/generate.*key/,
    );
    assert.match(
      problemFor(() =>
        listPageOf(
          { keys: [{ expires: 5 }], total_count: 1, current_page: 1, total_pages: 1 },
          'GET /key/list',
        ),
      ).detail,
      /GET \/key\/list keys\.0.*expires/,
    );
    assert.match(
      problemFor(() => listPageOf({ keys: [] }, 'GET /key/list')).detail,
      /GET \/key\/list.*total_count/,
    );
  });
});
