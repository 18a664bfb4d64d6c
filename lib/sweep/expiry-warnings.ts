import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { formatInstant } from '../duration.ts';
import { type BusEvent, putEvents } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { keysExpiring, SHARDS } from '../ledger/expiry-index.ts';
import type { KeyClaims } from '../ledger/key-claims.ts';
import type { KeyEntry } from '../ledger/records.ts';
import { log } from '../log.ts';
import { entryTarget } from '../targets/lab-target.ts';

/** Warnings claimed and sent together: one PutEvents call. */
const CHUNK = 10;

export interface WarningTally {
  sent: number;
  /** Already warned about this very expiry in an earlier run. */
  alreadySent: number;
  failed: number;
  pending: number;
}

export interface WarningOptions {
  readonly table: string;
  readonly claims: KeyClaims;
  readonly config: Pick<Config, 'eventBusName' | 'warnBefore'>;
  readonly now: Date;
  readonly warnUntil: Date;
  readonly concurrency: number;
  readonly shouldStop: () => boolean;
}

function warning(key: KeyEntry, warnBefore: string): BusEvent {
  return {
    detailType: DETAIL_TYPES.expiring,
    detail: {
      guid: key.guid,
      ...(key.user ? { user: key.user } : {}),
      litellm_key_alias: key.alias,
      litellm_key_id: key.keyId,
      litellm_key_expires: formatInstant(new Date(key.expiresAt ?? 0)),
      warn_before: warnBefore,
      trigger: 'schedule',
      litellm_target: entryTarget(key),
    },
  };
}

/**
 * One `Virtual Key Expiring` event per key of the ledger and expiry value, whether or not its value
 * is stored. The key is marked with the expiry before the event goes out, and unmarked if it could
 * not be sent: a rerun never repeats a warning, and an extended key (a new expiry) is warned again.
 */
export async function sendExpiryWarnings(options: WarningOptions): Promise<WarningTally> {
  const tally: WarningTally = { sent: 0, alreadySent: 0, failed: 0, pending: 0 };
  const window = { after: options.now.toISOString(), before: options.warnUntil.toISOString() };
  await eachLimited(SHARDS, Math.max(1, Math.min(4, options.concurrency)), async (shard) => {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await keysExpiring(options.table, shard, window, 100, start);
      start = page.next;
      const due = page.keys.filter((key) => key.expiresAt && key.warnedExpiry !== key.expiresAt);
      tally.alreadySent += page.keys.length - due.length;
      for (let first = 0; first < due.length; first += CHUNK) {
        const chunk = due.slice(first, first + CHUNK);
        if (options.shouldStop()) {
          tally.pending += chunk.length;
          continue;
        }
        await warnChunk(chunk, options, tally);
      }
    } while (start);
  });
  return tally;
}

async function warnChunk(chunk: readonly KeyEntry[], options: WarningOptions, tally: WarningTally) {
  const claimed = (
    await eachLimited(chunk, options.concurrency, async (key) =>
      (await options.claims.claimWarning(key, key.expiresAt ?? '')) ? key : undefined,
    )
  ).filter((key): key is KeyEntry => key !== undefined);
  tally.alreadySent += chunk.length - claimed.length;
  const events = claimed.map((key) => warning(key, options.config.warnBefore));
  const undelivered = new Set(await putEvents(options.config, events));
  for (const [index, key] of claimed.entries()) {
    if (!undelivered.has(events[index] as BusEvent)) {
      tally.sent++;
      continue;
    }
    tally.failed++;
    // Give the mark back, so the next run tries again.
    await options.claims
      .releaseWarning(key, key.expiresAt ?? '')
      .catch((error: unknown) =>
        log.warn('expiry warning mark not released', { err: error, alias: key.alias }),
      );
  }
}
