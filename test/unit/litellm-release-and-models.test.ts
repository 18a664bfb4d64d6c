import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeRelease } from '../../lib/litellm/release.ts';
import { isServed } from '../../lib/litellm/served-models.ts';

describe('LiteLLM releases', () => {
  it('places a version against the supported range 1.81.0 to 1.103.0', () => {
    assert.equal(judgeRelease('1.81.0').verdict, 'supported');
    assert.equal(judgeRelease('v1.103.0-stable').verdict, 'supported');
    assert.equal(judgeRelease('1.82.6.rc.2').verdict, 'supported');
    assert.equal(judgeRelease('1.80.15').verdict, 'older');
    assert.equal(judgeRelease('1.9.0').verdict, 'older');
    assert.equal(judgeRelease('1.104.2').verdict, 'newer');
    assert.equal(judgeRelease('2.0').verdict, 'newer');
    assert.equal(judgeRelease(undefined).verdict, 'unknown');
    assert.equal(judgeRelease('main-latest').verdict, 'unknown');
  });
});

describe('served models', () => {
  it('counts a model served by a wildcard deployment', () => {
    assert.ok(isServed('granite', ['granite']));
    assert.ok(isServed('anything/at-all', ['*']));
    assert.ok(isServed('openai/gpt-4o', ['openai/*']));
    assert.ok(!isServed('gpt-4o', ['openai/*']));
    assert.ok(!isServed('openai/', ['openai/*']));
    assert.ok(!isServed('openaiX/gpt', ['openai/*']));
    assert.ok(isServed('vllm/granite-3', ['vllm/granite-*']));
    assert.ok(!isServed('granite', ['granite.']), 'a dot is a dot');
    assert.ok(!isServed('mistral', ['granite']));
  });
});
