import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import type { MovedLab } from './move-lab.ts';

/** `Virtual Key Moved`: the lab's keys on their new target, with the endpoint lab users now reach them at. */
export function movedEvent(lab: MovedLab, trigger: Trigger): BusEvent {
  const first = lab.keys[0];
  const endpoint = lab.target.publicUrl;
  const facts = {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.spec.alias),
    models: first?.models ?? [],
    expires: first?.expires,
    secretArns: lab.keys.map((key) => key.secretArn),
  };
  return {
    detailType: DETAIL_TYPES.moved,
    detail: {
      ...labDetail(facts, trigger),
      litellm_api_endpoint: endpoint,
      litellm_api_base_url: `${endpoint}/v1`,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
      moved_from: lab.from,
      deleted_keys: lab.deletedKeys,
    },
  };
}
