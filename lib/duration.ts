/** LiteLLM's duration grammar: digits, then one of s, m, h, d, w, mo (calendar months). */
const DURATION = /^(\d{1,9})(mo|s|m|h|d|w)$/;

export type DurationUnit = 'mo' | 's' | 'm' | 'h' | 'd' | 'w';
export interface Duration {
  readonly text: string;
  readonly amount: number;
  readonly unit: DurationUnit;
}

const SECONDS: Record<Exclude<DurationUnit, 'mo'>, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function parseDuration(text: string): Duration | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  return { text, amount: Number(match[1]), unit: match[2] as DurationUnit };
}

/** The instant `duration` after `from`, as LiteLLM computes a key's expiry (months keep the day, clamped). */
export function addDuration(from: Date, duration: Duration): Date {
  if (duration.unit !== 'mo')
    return new Date(from.getTime() + duration.amount * SECONDS[duration.unit] * 1000);
  const target = new Date(from.getTime());
  const day = target.getUTCDate();
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + duration.amount);
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(day, lastDay));
  return target;
}

/** Milliseconds in a duration; months count as 30 days (used for bounds and grace periods only). */
export function durationMs(duration: Duration): number {
  const seconds = duration.unit === 'mo' ? 30 * 86400 : SECONDS[duration.unit];
  return duration.amount * seconds * 1000;
}

/** ISO-8601 in UTC to the second, the form the API answers with. */
export function formatInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A key's expiry as answers show it; null for a key that never expires. */
export function formatExpiry(expires: Date | undefined): string | null {
  return expires ? formatInstant(expires) : null;
}

/** LiteLLM's datetimes come with or without an offset; a bare one is UTC. */
export function parseLiteLlmInstant(text: string): Date | undefined {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text);
  const date = new Date(hasZone ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
