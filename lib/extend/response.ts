import { formatExpiry } from '../duration.ts';
import type { ExtendedLab } from './extend-lab.ts';

/** The answer to `POST /keys/{guid}/extend`: the lab's new expiry, then each key's. */
export function extendResponse(lab: ExtendedLab): Record<string, unknown> {
  return {
    guid: lab.guid,
    litellm_key_expires: formatExpiry(lab.keys[0]?.expires),
    litellm_key_duration: lab.duration,
    litellm_target: lab.target,
    keys: lab.keys.map((key) => ({
      litellm_key_alias: key.alias,
      ...(key.user ? { user: key.user } : {}),
      litellm_key_id: key.keyId,
      litellm_key_expires: formatExpiry(key.expires),
    })),
  };
}
