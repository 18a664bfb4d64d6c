import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../lib/config.ts';
import type { BadRequestError } from '../../lib/errors.ts';
import { parseProvisionRequest } from '../../lib/provision/request.ts';
import { fieldsOf } from '../support/fixtures/bad-request.ts';

const config = readConfig({
  LITELLM_URL: 'http://x',
  LITELLM_MASTER_KEY_SECRET_ID: 'm',
  API_TOKENS_SECRET_ID: 't',
  LABS_TABLE: 'labs',
  KEY_VALUES_KMS_KEY_ID: 'alias/litellm-virtual-keys',
});

describe('provision request', () => {
  it('resolves the default package', () => {
    const request = parseProvisionRequest({ guid: 'abc12' }, 'http', config);

    assert.equal(request.packageName, 'ai-developer');
    assert.deepEqual(request.models, ['granite-3-2-8b-instruct', 'mistral-7b-instruct']);
    assert.equal(request.duration, '30d');
    assert.equal(request.userId, 'abc12@lab.opentlc.com');
    assert.equal(request.maxBudget, null);
    assert.equal(request.customModels, false);
  });

  it('names every bad field at once', () => {
    const fields = fieldsOf(() =>
      parseProvisionRequest(
        { guid: '-x', duration: '1y', models: ['a', 'a'], colour: 'red' },
        'http',
        config,
      ),
    );

    assert.deepEqual(fields.sort(), ['colour', 'duration', 'guid', 'models']);
  });

  it('caps a term at ten years, counting months as calendar months', () => {
    for (const duration of ['120mo', '3653d', '521w']) {
      assert.equal(parseProvisionRequest({ guid: 'abc12', duration }, 'http', config).duration, duration);
    }
    for (const duration of ['121mo', '3654d', '522w', '0mo', '0s']) {
      assert.deepEqual(
        fieldsOf(() => parseProvisionRequest({ guid: 'abc12', duration }, 'http', config)),
        ['duration'],
        duration,
      );
    }
  });

  it('knows only the catalogue’s own packages, not names every object inherits', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      assert.deepEqual(
        fieldsOf(() =>
          parseProvisionRequest({ guid: 'abc12', package: name, models: ['m'] }, 'event', config),
        ),
        ['package'],
        name,
      );
    }
    assert.throws(
      () =>
        readConfig({
          LITELLM_URL: 'http://x',
          LITELLM_MASTER_KEY_SECRET_ID: 'm',
          DEFAULT_PACKAGE: 'constructor',
        }),
      /DEFAULT_PACKAGE "constructor" is not defined/,
    );
  });

  it('calls a missing field required and a mistyped one by its rule', () => {
    const errors = (body: unknown) => {
      try {
        parseProvisionRequest(body, 'http', config);
      } catch (error) {
        return (error as BadRequestError).errors;
      }
      return [];
    };

    assert.deepEqual(errors({ package: 'lab-dev' }), [{ field: 'guid', message: 'is required' }]);
    assert.deepEqual(errors({ guid: 5, users: 2, user_base: 0, metadata: { a: 1 } }), [
      { field: 'guid', message: 'must be a string' },
      { field: 'user_base', message: 'must be a string' },
      { field: 'metadata.a', message: 'values must be strings' },
    ]);
  });

  it('ignores fields it does not know in event details, but not in HTTP bodies', () => {
    const detail = { guid: 'abc12', catalog_item: 'x', lab_owner: 'y' };

    assert.equal(parseProvisionRequest(detail, 'event', config).guid, 'abc12');
    assert.deepEqual(fieldsOf(() => parseProvisionRequest(detail, 'http', config)).sort(), [
      'catalog_item',
      'lab_owner',
    ]);
  });

  it('names counted users from user_base, the deployment default, or `user`', () => {
    const names = (body: Record<string, unknown>, base = 'user') =>
      parseProvisionRequest({ guid: 'a', ...body }, 'http', { ...config, labUserBase: base }).users;

    assert.deepEqual(names({ users: 3 }), ['user1', 'user2', 'user3']);
    assert.deepEqual(names({ users: 2 }, 'seat'), ['seat1', 'seat2']);
    assert.deepEqual(names({ users: 2, user_base: 'student-' }, 'seat'), ['student-1', 'student-2']);
    assert.deepEqual(names({ users: ['ann', 'bob'] }), ['ann', 'bob']);
    assert.equal(names({}), undefined);
    assert.equal(names({ users: 200, user_base: 'b'.repeat(37) })?.at(-1), `${'b'.repeat(37)}200`);
  });

  it('checks users and metadata limits', () => {
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', users: 201 }, 'http', config)),
      ['users'],
    );
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', users: ['u1', 'u1'] }, 'http', config)),
      ['users'],
    );
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', metadata: many }, 'http', config)),
      ['metadata'],
    );
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', metadata: { k: 'v'.repeat(257) } }, 'http', config)),
      ['metadata.k'],
    );
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', metadata: { guid: 'b' } }, 'http', config)),
      ['metadata.guid'],
    );
  });

  it('refuses our metadata names and LiteLLM’s in any case', () => {
    const metadata = {
      Managed_By: 'x',
      API_CLIENT: 'x',
      tags: 'x',
      Guardrails: 'x',
      spend_logs_metadata: 'x',
      model_rpm_limit: 'x',
      user_api_key_alias: 'x',
      catalog_item: 'kept',
    };
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', metadata }, 'http', config)),
      [
        'metadata.Managed_By',
        'metadata.API_CLIENT',
        'metadata.tags',
        'metadata.Guardrails',
        'metadata.spend_logs_metadata',
        'metadata.model_rpm_limit',
        'metadata.user_api_key_alias',
      ],
    );
  });

  it('takes as owner only an e-mail address in an allowed domain, never LiteLLM’s special ids', () => {
    const admins = { ...config, adminUserIds: ['ops-admin'] };
    for (const userId of [
      'default_user_id',
      'Default_User_Id',
      'litellm-dashboard',
      'ops-admin',
      'x@evil.example',
      'student',
    ]) {
      assert.deepEqual(
        fieldsOf(() => parseProvisionRequest({ guid: 'a', user_id: userId }, 'http', admins)),
        ['user_id'],
        userId,
      );
    }
    // U+212A (Kelvin sign) folds to "k": it must not pass for it.
    assert.deepEqual(
      fieldsOf(() =>
        parseProvisionRequest({ guid: 'a', user_id: 'student@lab.opentlc.\u212Aom' }, 'http', admins),
      ),
      ['user_id'],
    );
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', user_id: 'stu\u212Ady@redhat.com' }, 'http', admins)),
      ['user_id'],
    );
    // Owners the service makes up are held to the admin list too.
    const labAdmin = { ...config, adminUserIds: ['root@lab.opentlc.com'] };
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'root' }, 'http', labAdmin)),
      ['guid'],
    );
    assert.deepEqual(
      fieldsOf(() => parseProvisionRequest({ guid: 'a', users: ['root'] }, 'http', labAdmin)),
      ['users'],
    );
    for (const userId of ['a@lab.opentlc.com', 'Rhdp.User@Redhat.com', 'x@opentlc.com']) {
      assert.equal(parseProvisionRequest({ guid: 'a', user_id: userId }, 'http', admins).userId, userId);
    }
  });

  it('refuses bodies that are not objects', () => {
    for (const body of [null, [], 'abc', 42]) {
      assert.deepEqual(
        fieldsOf(() => parseProvisionRequest(body, 'http', config)),
        ['(body)'],
      );
    }
  });
});
