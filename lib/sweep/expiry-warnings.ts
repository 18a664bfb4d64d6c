import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { type BusEvent, putEvents } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { type LeaseDeps, tryLease } from '../ledger/lease.ts';
import { labsDue } from '../ledger/sweep-index.ts';
import { log } from '../log.ts';

export interface WarningTally {
  sent: number;
  /** Already warned about this very expiry in an earlier run. */
  alreadySent: number;
  failed: number;
  /** Not warned this run: out of time, or the lab was busy. */
  pending: number;
}

export interface WarningOptions {
  readonly table: string;
  readonly config: Pick<Config, 'eventBusName' | 'warnBefore'>;
  readonly now: Date;
  readonly warnUntil: Date;
  readonly concurrency: number;
  readonly lease: LeaseDeps;
  readonly shouldStop: () => boolean;
}

/** The fields every lab event carries (the one expiring key's alias and expiry), then the key's own. */
function warning(lab: Lab, key: LabKey, warnBefore: string): BusEvent {
  const facts = {
    guid: lab.guid,
    aliases: [key.alias],
    models: lab.models ?? [],
    expires: new Date(key.expiresAt ?? 0),
  };
  return {
    detailType: DETAIL_TYPES.expiring,
    detail: {
      ...labDetail(facts, 'schedule'),
      ...(key.user ? { user: key.user } : {}),
      litellm_key_alias: key.alias,
      litellm_key_id: key.keyId,
      warn_before: warnBefore,
      litellm_target: key.target,
    },
  };
}

/**
 * One `Virtual Key Expiring` event per live key and expiry. Each lab with a key expiring in the
 * window is leased, its keys marked with the expiry by the write that releases it, and only then
 * are the events sent; a mark whose event did not get out is taken back, so the next run sends it.
 * A rerun never repeats a warning, and an extended key (a new expiry) is warned again.
 */
export async function sendExpiryWarnings(options: WarningOptions): Promise<WarningTally> {
  const tally: WarningTally = { sent: 0, alreadySent: 0, failed: 0, pending: 0 };
  const from = options.now.toISOString();
  const until = options.warnUntil.toISOString();
  for await (const page of labsDue(options.table, until)) {
    const candidates = page.filter((due) => due.warnAt !== undefined && due.warnAt < until);
    await eachLimited(candidates, options.concurrency, async (due) => {
      if (options.shouldStop()) {
        tally.pending++;
        return;
      }
      const held = await tryLease(due.guid, options.lease);
      if (!held) {
        tally.pending++;
        return;
      }
      const inWindow = (key: LabKey) =>
        key.status === 'live' && key.expiresAt !== undefined && key.expiresAt > from && key.expiresAt < until;
      const keys = held.lab.keys.filter((key) => inWindow(key) && key.warnedExpiry !== key.expiresAt);
      tally.alreadySent += held.lab.keys.filter(
        (key) => inWindow(key) && key.warnedExpiry === key.expiresAt,
      ).length;
      const marked = (key: LabKey) => keys.some((other) => other.keyId === key.keyId);
      const lab = await held.release((current) => ({
        ...current,
        keys: current.keys.map((key) => (marked(key) ? { ...key, warnedExpiry: key.expiresAt } : key)),
      }));
      const events = keys.map((key) => warning(lab, key, options.config.warnBefore));
      const undelivered = new Set(await putEvents(options.config, events));
      const failed = keys.filter((_, index) => undelivered.has(events[index] as BusEvent));
      tally.sent += keys.length - failed.length;
      tally.failed += failed.length;
      if (failed.length > 0) await unmark(lab.guid, failed, options);
    });
  }
  return tally;
}

/** Take the marks of warnings that did not get out back, so the next run sends them. */
async function unmark(guid: string, keys: readonly LabKey[], options: WarningOptions) {
  const held = await tryLease(guid, options.lease);
  if (!held) {
    log.warn('expiry warning marks not taken back; the lab was busy', { guid });
    return;
  }
  await held.release((lab) => ({
    ...lab,
    keys: lab.keys.map((key) => {
      const failed = keys.find((candidate) => candidate.keyId === key.keyId);
      if (!failed || key.warnedExpiry !== failed.expiresAt) return key;
      const { warnedExpiry: _warned, ...rest } = key;
      return failed.warnedExpiry ? { ...rest, warnedExpiry: failed.warnedExpiry } : rest;
    }),
  }));
}
