import { log } from '../log.ts';
import { publishInFlight } from '../metrics.ts';
import { type InFlightLab, labsInFlightSince } from './labs-in-flight.ts';

/** A lease or move older than this means an operation died or hangs: none runs past Lambda's 15 minutes. */
export const IN_FLIGHT_TOO_LONG_MS = 15 * 60_000;

export interface InFlightReport {
  /** Labs in flight for longer than the threshold. */
  readonly too_long: number;
  /** How long the oldest of them has been in flight; 0 when there is none. */
  readonly oldest_seconds: number;
}

/**
 * One run of the watch: the labs in flight for longer than `IN_FLIGHT_TOO_LONG_MS` at `now`, each
 * logged once (guid, since when, its lease's owner and whether it lapsed, a move's target: no
 * secret is in the index), then `LabsInFlightTooLong` and `OldestInFlightSeconds`.
 */
export async function watchInFlight(table: string, now: Date): Promise<InFlightReport> {
  const before = new Date(now.getTime() - IN_FLIGHT_TOO_LONG_MS).toISOString();
  const labs = await labsInFlightSince(table, before);
  for (const lab of labs) log.warn('lab in flight too long', fieldsOf(lab, now));
  const oldest = labs.reduce((min, lab) => Math.min(min, Date.parse(lab.since)), now.getTime());
  const report = { too_long: labs.length, oldest_seconds: Math.floor((now.getTime() - oldest) / 1000) };
  publishInFlight(report.too_long, report.oldest_seconds);
  return report;
}

function fieldsOf(lab: InFlightLab, now: Date): Record<string, unknown> {
  return {
    guid: lab.guid,
    in_flight_since: lab.since,
    minutes: Math.floor((now.getTime() - Date.parse(lab.since)) / 60_000),
    ...(lab.lease
      ? { lease_owner: lab.lease.owner, lease_state: lab.lease.until < now.getTime() ? 'lapsed' : 'held' }
      : { lease_state: 'none' }),
    ...(lab.movingTo ? { moving_to: lab.movingTo } : {}),
  };
}
