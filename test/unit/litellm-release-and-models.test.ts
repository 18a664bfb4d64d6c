import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { customKeyAdvice } from '../../lib/litellm/custom-key-advice.ts';
import { judgeRelease, NEWEST_TESTED, releaseAtLeast } from '../../lib/litellm/release.ts';
import { isServed, unservedModels } from '../../lib/litellm/served-models.ts';

describe('LiteLLM releases', () => {
  it(`places a version against the supported range 1.81.0 to ${NEWEST_TESTED}`, () => {
    assert.equal(judgeRelease('1.81.0').verdict, 'supported');
    assert.equal(judgeRelease('v1.103.0-stable').verdict, 'supported');
    assert.equal(judgeRelease('1.104.2').verdict, 'supported');
    assert.equal(judgeRelease('1.82.6.rc.2').verdict, 'supported');
    assert.equal(judgeRelease(NEWEST_TESTED).verdict, 'supported');
    assert.equal(judgeRelease('1.80.15').verdict, 'older');
    assert.equal(judgeRelease('1.9.0').verdict, 'older');
    assert.equal(judgeRelease('1.105.0-rc.1').verdict, 'supported');
    assert.equal(judgeRelease('1.105.0-rc.2').verdict, 'newer', 'a later candidate was not checked');
    assert.equal(judgeRelease('1.105.0').verdict, 'newer', 'nor the final release after it');
    assert.equal(judgeRelease('1.106.0').verdict, 'newer');
    assert.equal(judgeRelease('1.81.0-rc.1').verdict, 'older');
    assert.equal(judgeRelease('2.0').verdict, 'newer');
    assert.equal(judgeRelease(undefined).verdict, 'unknown');
    assert.equal(judgeRelease('main-latest').verdict, 'unknown');
  });

  it('tells whether a proxy runs a release or later, and when it cannot know', () => {
    assert.equal(releaseAtLeast(judgeRelease('1.104.2'), '1.104.0'), true);
    assert.equal(releaseAtLeast(judgeRelease('v1.103.9-stable'), '1.104.0'), false);
    assert.equal(releaseAtLeast(judgeRelease('1.104.0-rc.3'), '1.104.0'), false);
    assert.equal(releaseAtLeast(judgeRelease(undefined), '1.104.0'), undefined);
    assert.equal(releaseAtLeast(judgeRelease('main-latest'), '1.104.0'), undefined);
  });

  it('advises on disable_custom_api_keys as the release needs', () => {
    assert.match(customKeyAdvice(judgeRelease('1.104.2')), /config\.yaml and restart the proxy/);
    assert.doesNotMatch(customKeyAdvice(judgeRelease('1.104.2')), /10 minutes/);
    assert.match(customKeyAdvice(judgeRelease('1.93.0')), /Admin UI.*retry after 10 minutes/);
    const unknown = customKeyAdvice(judgeRelease(undefined));
    assert.match(unknown, /from v1\.104, set general_settings/);
    assert.match(unknown, /before v1\.104, turn it off in the Admin UI/);
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

  it('looks in /model/info only for models /v1/models leaves out', async () => {
    const calls: string[] = [];
    const proxy = {
      listModels: async () => {
        calls.push('/v1/models');
        return ['granite'];
      },
      listModelGroups: async () => {
        calls.push('/model/info');
        return ['granite', 'hidden'];
      },
    };

    assert.deepEqual(await unservedModels(proxy, ['granite']), []);
    assert.deepEqual(calls, ['/v1/models']);
    assert.deepEqual(await unservedModels(proxy, ['granite', 'hidden', 'gone', 'gone']), ['gone']);
    assert.deepEqual(calls, ['/v1/models', '/v1/models', '/model/info']);
  });
});
