import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { formatInstant } from '../duration.ts';
import { type BusEvent, putEvents } from '../events/bus.ts';
import { keySecretName } from '../key-identity.ts';
import { type StoredKeyEntry, setStoredKeyTag } from '../key-store.ts';
import { log } from '../log.ts';
import type { SweptKey } from './census.ts';

/** Tag on a stored key naming the expiry it was last warned about. */
export const WARNED_TAG = 'expiry-warned';

export const EXPIRING_DETAIL_TYPE = 'Virtual Key Expiring';

/** Warnings claimed and sent together: one PutEvents call. */
const CHUNK = 10;

export interface WarningTally {
  sent: number;
  /** Already warned about this very expiry in an earlier run. */
  alreadySent: number;
  /** No stored key to note the warning on, so none is sent (at most once beats at least once). */
  unrecorded: number;
  failed: number;
  pending: number;
}

export interface WarningOptions {
  readonly config: Pick<Config, 'eventBusName' | 'keySecretPrefix' | 'warnBefore'>;
  /** Stored keys by secret name, as listed at the start of the sweep. */
  readonly stored: ReadonlyMap<string, StoredKeyEntry>;
  readonly concurrency: number;
  readonly shouldStop: () => boolean;
}

function warning(key: SweptKey, entry: StoredKeyEntry, warnBefore: string): BusEvent {
  return {
    detailType: EXPIRING_DETAIL_TYPE,
    detail: {
      guid: key.guid,
      ...(key.user ? { user: key.user } : {}),
      litellm_key_alias: key.alias,
      litellm_key_id: key.keyId,
      litellm_key_expires: formatInstant(key.expires),
      secret_arn: entry.arn,
      warn_before: warnBefore,
      trigger: 'schedule',
    },
  };
}

/**
 * One `Virtual Key Expiring` event per key and expiry value. The stored key is tagged with the
 * expiry before the event goes out, and untagged if it could not be sent: a rerun never repeats a
 * warning, and an extended key (a new expiry) is warned about again.
 */
export async function sendExpiryWarnings(
  keys: readonly SweptKey[],
  options: WarningOptions,
): Promise<WarningTally> {
  const tally: WarningTally = { sent: 0, alreadySent: 0, unrecorded: 0, failed: 0, pending: 0 };
  const due: { key: SweptKey; entry: StoredKeyEntry; expires: string }[] = [];
  for (const key of keys) {
    const entry = options.stored.get(keySecretName(options.config.keySecretPrefix, key.alias));
    const expires = formatInstant(key.expires);
    if (!entry) tally.unrecorded++;
    else if (entry.tags[WARNED_TAG] === expires) tally.alreadySent++;
    else due.push({ key, entry, expires });
  }
  const chunks = Array.from({ length: Math.ceil(due.length / CHUNK) }, (_, i) =>
    due.slice(i * CHUNK, (i + 1) * CHUNK),
  );
  await eachLimited(chunks, options.concurrency, async (chunk) => {
    if (options.shouldStop()) {
      tally.pending += chunk.length;
      return;
    }
    const claimed: typeof chunk = [];
    for (const item of chunk) {
      try {
        await setStoredKeyTag(item.entry.name, WARNED_TAG, item.expires);
        claimed.push(item);
      } catch (error) {
        tally.failed++;
        log.warn('expiry warning not recorded', { err: error, alias: item.key.alias });
      }
    }
    const events = claimed.map((item) => warning(item.key, item.entry, options.config.warnBefore));
    const undelivered = new Set(await putEvents(options.config, events));
    for (const [index, item] of claimed.entries()) {
      if (!undelivered.has(events[index] as BusEvent)) {
        tally.sent++;
        continue;
      }
      tally.failed++;
      // Give the claim back, so the next run tries again.
      await setStoredKeyTag(item.entry.name, WARNED_TAG, item.entry.tags[WARNED_TAG]).catch((error) =>
        log.warn('expiry warning claim not released', { err: error, alias: item.key.alias }),
      );
    }
  });
  return tally;
}
