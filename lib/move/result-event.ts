import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { labSpend, spendOf } from '../lab/key-spend.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import { keysFacts } from '../provision/result-event.ts';
import type { MovedLab } from './move-lab.ts';

/** `Virtual Key Moved`: the lab's keys on their new target, with the endpoint lab users now reach them at. */
export function movedEvent(lab: MovedLab, trigger: Trigger): BusEvent {
  const endpoint = lab.target.publicUrl;
  const spent = labSpend(lab.spent);
  return {
    detailType: DETAIL_TYPES.moved,
    detail: {
      ...labDetail(keysFacts(lab), trigger),
      litellm_api_endpoint: endpoint,
      litellm_api_base_url: `${endpoint}/v1`,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
      moved_from: lab.from,
      deleted_keys: lab.deletedKeys,
      moved_spend: lab.spent.map(spendOf),
      moved_total_spend: spent.total,
      ...(spent.mayLackBackfill ? { total_spend_may_lack_backfill: true } : {}),
    },
  };
}
