import { eachLimited } from '../concurrency.ts';
import type { KeyApi } from '../litellm/key-api.ts';

/** A key that must be gone: its hash, and its raw value (opened from the ledger). */
export interface KeyToVerify {
  readonly alias: string;
  readonly keyId: string;
  readonly value?: string;
}

/**
 * How a key was shown to be gone.
 * - `auth-probe`: the key itself, used on `/v1/models`, was refused as unknown: its row is gone and
 *   the replica that answered holds no cached copy.
 * - `key-info`: `/key/info` by hash no longer finds it, or (v1.103 on, which reads deleted keys
 *   back) reports it deleted. Replicas that cached the key may still accept it until their auth
 *   cache lapses (LiteLLM's default TTL is 60 s).
 */
export type VerifiedBy = 'auth-probe' | 'key-info';

/** The outcome for one key; the raw value stays behind, so nothing downstream can log it. */
export interface KeyCheck {
  readonly alias: string;
  readonly keyId: string;
  readonly gone: boolean;
  readonly verifiedBy?: VerifiedBy;
  /** The probe was answered 200 although the row is gone: a replica still serves it from its cache. */
  readonly stillCached?: boolean;
}

/** Check each key: the raw key's own probe where the value is known, `/key/info` by hash otherwise or as well. */
export function verifyGone(
  keys: readonly KeyToVerify[],
  litellm: KeyApi,
  concurrency: number,
): Promise<KeyCheck[]> {
  return eachLimited(keys, concurrency, async ({ alias, keyId, value }): Promise<KeyCheck> => {
    const probe = value ? await litellm.probeKey(value) : undefined;
    if (probe === 'unknown') return { alias, keyId, gone: true, verifiedBy: 'auth-probe' };
    const lookup = await litellm.getKeyInfo(keyId);
    if (lookup.state === 'live') return { alias, keyId, gone: false };
    return {
      alias,
      keyId,
      gone: true,
      verifiedBy: 'key-info',
      ...(probe === 'accepted' ? { stillCached: true } : {}),
    };
  });
}
