import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { BadRequestError, NotFoundError } from '../errors.ts';
import { expiryOf } from '../key-identity.ts';
import { findLabKeys, type LabSummary, labKeysOf, summariseLab } from '../lab/lab-keys.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { log } from '../log.ts';
import type { ExtendRequest } from './request.ts';

export interface ExtendedKey {
  readonly alias: string;
  readonly user?: string;
  readonly keyId: string;
  readonly expires: Date | undefined;
}

export interface ExtendedLab {
  readonly guid: string;
  /** The term sent to LiteLLM: the request's duration, or the seconds left until its `expires`. */
  readonly duration: string;
  readonly keys: readonly ExtendedKey[];
  /** The lab's keys as result events and metrics tell of them (expiry before the extension). */
  readonly summary: LabSummary;
}

/** LiteLLM's /key/update takes only a duration from now, so an instant becomes whole seconds to it. */
function durationFor(request: ExtendRequest, now: Date): string {
  if ('duration' in request) return request.duration;
  const seconds = Math.ceil((request.expires.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) {
    throw new BadRequestError('expires has passed', [{ field: 'expires', message: 'must be in the future' }]);
  }
  return `${seconds}s`;
}

/**
 * Give every key of the lab (each user's, and expired ones too: LiteLLM revives them) the new
 * term. Only the duration is sent, so metadata, models and budget stay exactly as they were.
 */
export async function extendLab(
  request: ExtendRequest,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'litellm'>,
  now: () => Date = () => new Date(),
): Promise<ExtendedLab> {
  const lab = await findLabKeys(request.guid, litellm, config);
  const keys = labKeysOf(lab);
  if (keys.length === 0) throw new NotFoundError(`lab ${request.guid} has no key`);
  const duration = durationFor(request, now());
  const updated = await eachLimited(keys, config.litellm.maxConnections, async (key) => {
    if (!key.value) {
      log.warn('extending by hash: LiteLLM keeps the old expiry in its auth cache until the entry lapses', {
        alias: key.alias,
        key_id: key.keyId,
      });
    }
    const record = await litellm.extendKey(key.value ?? key.keyId, duration);
    if (!record) return undefined; // deleted since it was listed
    return {
      alias: key.alias,
      ...(key.user ? { user: key.user } : {}),
      keyId: key.keyId,
      expires: expiryOf(record),
    };
  });
  const extended = updated.filter((key): key is ExtendedKey => key !== undefined);
  if (extended.length === 0) throw new NotFoundError(`lab ${request.guid} has no key`);
  return { guid: request.guid, duration, keys: extended, summary: summariseLab(lab) };
}
