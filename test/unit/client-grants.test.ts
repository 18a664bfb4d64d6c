import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantsContext, httpCaller, labEventCaller, SCOPES } from '../../lib/auth/client-grants.ts';

const scopesOf = (context: unknown) => [...httpCaller(context).scopes].sort();

describe('the caller an HTTP route sees', () => {
  it('has exactly the scopes and limits the authorizer passed', () => {
    const context = grantsContext('portal', ['read', 'provision'], {
      max_users: 5,
      packages: ['ai-beginner'],
    });
    const caller = httpCaller(context);
    assert.equal(caller.client, 'portal');
    assert.deepEqual([...caller.scopes], ['read', 'provision']);
    assert.deepEqual(caller.limits, { max_users: 5, packages: ['ai-beginner'] });
  });

  it('fails closed: no context, unknown scopes and unreadable limits grant nothing', () => {
    assert.deepEqual(scopesOf(undefined), []);
    assert.deepEqual(scopesOf({ client: 'x', scopes: 'admin READ read-keys' }), []);
    assert.deepEqual(scopesOf({ client: 'x', scopes: 'read', limits: '{"max_users":0}' }), []);
    assert.deepEqual(scopesOf({ client: 'x', scopes: 'read', limits: 'not json' }), []);
    assert.deepEqual(scopesOf({ client: 'x', scopes: 'read', limits: '{"colour":"red"}' }), []);
  });

  it('grants nothing to a context that names a client but no scopes', () => {
    const caller = httpCaller({ client: 'rhdp' });
    assert.equal(caller.client, 'rhdp');
    assert.deepEqual([...caller.scopes], []);
    assert.deepEqual(scopesOf({ client: 'rhdp', limits: '{"max_users":5}' }), []);
    assert.deepEqual(scopesOf({ client: 'rhdp', scopes: '' }), []);
  });

  it('reads max_live_labs among the limits, a whole number from 0', () => {
    assert.deepEqual(httpCaller(grantsContext('portal', ['provision'], { max_live_labs: 0 })).limits, {
      max_live_labs: 0,
    });
    for (const cap of ['-1', '2.5', '"ten"'])
      assert.deepEqual(
        scopesOf({ client: 'x', scopes: 'provision', limits: `{"max_live_labs":${cap}}` }),
        [],
      );
  });

  it('lets lab events act with every scope, under their source’s name', () => {
    const caller = labEventCaller('rhdp.lab');
    assert.equal(caller.client, 'event:rhdp.lab');
    assert.deepEqual([...caller.scopes].sort(), [...SCOPES].sort());
  });
});
