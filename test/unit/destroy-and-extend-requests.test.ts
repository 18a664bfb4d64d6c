import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDestroyRequest } from '../../lib/destroy/request.ts';
import { parseExtendRequest } from '../../lib/extend/request.ts';
import { fieldsOf } from '../support/fixtures/bad-request.ts';

describe('destroy request', () => {
  const allowed = { forceDbDelete: true };
  const forbidden = { forceDbDelete: false };

  it('follows the deployment unless the request says otherwise', () => {
    assert.deepEqual(parseDestroyRequest({ guid: 'abc' }, 'http', allowed), {
      guid: 'abc',
      databaseDelete: true,
    });
    assert.deepEqual(parseDestroyRequest({ guid: 'abc' }, 'http', forbidden), {
      guid: 'abc',
      databaseDelete: false,
    });
    assert.equal(
      parseDestroyRequest({ guid: 'abc', force_db_delete: 'false' }, 'http', allowed).databaseDelete,
      false,
    );
    assert.equal(
      parseDestroyRequest({ guid: 'abc', force_db_delete: false }, 'event', forbidden).databaseDelete,
      false,
    );
  });

  it('refuses direct deletion where the deployment forbids it, over HTTP and in events', () => {
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', force_db_delete: 'true' }, 'http', forbidden)),
      ['force_db_delete'],
    );
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', force_db_delete: true }, 'event', forbidden)),
      ['force_db_delete'],
    );
  });

  it('takes only true or false (as booleans too in events)', () => {
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', force_db_delete: '1' }, 'http', allowed)),
      ['force_db_delete'],
    );
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', force_db_delete: true }, 'http', allowed)),
      ['force_db_delete'],
    );
    assert.equal(
      parseDestroyRequest({ guid: 'abc', force_db_delete: 'false' }, 'event', allowed).databaseDelete,
      false,
    );
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', force_db_delete: 1 }, 'event', allowed)),
      ['force_db_delete'],
    );
  });

  it('ignores other fields of an event detail but names unknown query parameters', () => {
    assert.equal(parseDestroyRequest({ guid: 'abc', lab_owner: 'x' }, 'event', allowed).guid, 'abc');
    assert.deepEqual(
      fieldsOf(() => parseDestroyRequest({ guid: 'abc', lab_owner: 'x' }, 'http', allowed)),
      ['lab_owner'],
    );
  });
});

describe('extend request', () => {
  const now = new Date('2026-11-26T06:00:00Z');

  it('takes a duration from now or an instant with a zone', () => {
    assert.deepEqual(parseExtendRequest({ guid: 'abc', duration: '7d' }, 'http', now), {
      guid: 'abc',
      duration: '7d',
    });
    assert.deepEqual(parseExtendRequest({ guid: 'abc', expires: '2026-12-01T08:00:00+02:00' }, 'http', now), {
      guid: 'abc',
      expires: new Date('2026-12-01T06:00:00Z'),
    });
  });

  it('refuses past, far-future, zone-less and double terms', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ guid: 'abc', expires: '2026-11-26T05:59:59Z' }, 'expires'],
      [{ guid: 'abc', expires: '2040-01-01T00:00:00Z' }, 'expires'],
      [{ guid: 'abc', expires: '2026-12-01T06:00:00' }, 'expires'],
      [{ guid: 'abc', duration: '11000d' }, 'duration'],
      [{ guid: 'abc', duration: '7d', expires: '2026-12-01T06:00:00Z' }, 'expires'],
      [{ guid: 'abc' }, 'duration'],
    ];
    for (const [input, field] of cases) {
      assert.deepEqual(
        fieldsOf(() => parseExtendRequest(input, 'event', now)),
        [field],
        JSON.stringify(input),
      );
    }
  });
});
