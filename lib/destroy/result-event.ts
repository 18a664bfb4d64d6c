import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { spendOf } from '../lab/key-spend.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import type { DestroyedLab } from './destroy-lab.ts';

/** `Virtual Key Destroyed`: what was deleted and how it was verified, with the spend at destroy. */
export function destroyedEvent(lab: DestroyedLab, trigger: Trigger): BusEvent {
  const facts = { guid: lab.guid, aliases: lab.aliases, ...lab.summary };
  return {
    detailType: DETAIL_TYPES.destroyed,
    detail: {
      ...labDetail(facts, trigger),
      deleted_keys: lab.deletedKeys,
      was_missing: lab.wasMissing,
      litellm_key_ids: lab.checks.map((check) => check.keyId),
      spend: lab.spend.map(spendOf),
      total_spend: lab.totalSpend,
      ...(lab.spendMayLackBackfill ? { total_spend_may_lack_backfill: true } : {}),
    },
  };
}
