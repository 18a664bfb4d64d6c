import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import type { ExtendedLab } from './extend-lab.ts';

/** `Virtual Key Extended`: the lab's keys with their new expiry (the latest of them in the shared fields). */
export function extendedEvent(lab: ExtendedLab, trigger: Trigger): BusEvent {
  const expiries = lab.keys.map((key) => key.expires?.getTime()).filter((t) => t !== undefined);
  const facts = {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.alias),
    models: lab.models,
    expires: expiries.length > 0 ? new Date(Math.max(...expiries)) : undefined,
  };
  return {
    detailType: DETAIL_TYPES.extended,
    detail: {
      ...labDetail(facts, trigger),
      litellm_key_duration: lab.duration,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
    },
  };
}
