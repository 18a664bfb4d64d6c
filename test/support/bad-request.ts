import assert from 'node:assert/strict';
import { BadRequestError } from '../../lib/errors.ts';

/** The fields a 400 names; fails the test when `run` does not throw one. */
export function fieldsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof BadRequestError, String(error));
    return error.errors.map((e) => e.field);
  }
  assert.fail('expected a 400');
}
