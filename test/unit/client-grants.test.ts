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

  it('keeps a decision cached from before scopes existed at full access, as it was', () => {
    assert.deepEqual(scopesOf({ client: 'rhdp' }), [...SCOPES].sort());
    assert.deepEqual(httpCaller({ client: 'rhdp' }).limits, {});
  });

  it('lets lab events act with every scope, under their source’s name', () => {
    const caller = labEventCaller('rhdp.lab');
    assert.equal(caller.client, 'event:rhdp.lab');
    assert.deepEqual([...caller.scopes].sort(), [...SCOPES].sort());
  });
});
