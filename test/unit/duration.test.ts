import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addDuration, formatInstant, parseDuration, parseLiteLlmInstant } from '../../lib/duration.ts';

describe('duration', () => {
  it('accepts LiteLLM’s grammar and nothing else', () => {
    for (const text of ['30d', '168h', '30m', '90s', '2w', '1mo', '0h']) assert.ok(parseDuration(text), text);
    for (const text of ['1y', 'P0D', '3600', '-1', '7 d', 'd7', '7D', '', '1.5h']) {
      assert.equal(parseDuration(text), undefined, text);
    }
  });

  it('reads mo as months and m as minutes', () => {
    assert.deepEqual(parseDuration('3mo'), { text: '3mo', amount: 3, unit: 'mo' });
    assert.deepEqual(parseDuration('3m'), { text: '3m', amount: 3, unit: 'm' });
  });

  it('adds calendar months keeping the day, clamped to the month’s end', () => {
    const jan31 = new Date('2026-01-31T06:00:00Z');
    assert.equal(
      formatInstant(addDuration(jan31, { text: '1mo', amount: 1, unit: 'mo' })),
      '2026-02-28T06:00:00Z',
    );
    assert.equal(
      formatInstant(addDuration(jan31, { text: '2mo', amount: 2, unit: 'mo' })),
      '2026-03-31T06:00:00Z',
    );
  });

  it('adds fixed units exactly', () => {
    const start = new Date('2026-11-26T06:00:00Z');
    assert.equal(
      formatInstant(addDuration(start, { text: '30d', amount: 30, unit: 'd' })),
      '2026-12-26T06:00:00Z',
    );
    assert.equal(
      formatInstant(addDuration(start, { text: '90s', amount: 90, unit: 's' })),
      '2026-11-26T06:01:30Z',
    );
  });

  it('reads LiteLLM’s datetimes with or without an offset as UTC', () => {
    assert.equal(
      parseLiteLlmInstant('2026-12-26T06:00:00.123000+00:00')?.toISOString(),
      '2026-12-26T06:00:00.123Z',
    );
    assert.equal(parseLiteLlmInstant('2026-12-26T06:00:00')?.toISOString(), '2026-12-26T06:00:00.000Z');
    assert.equal(parseLiteLlmInstant('not a date'), undefined);
  });
});
