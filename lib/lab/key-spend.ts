import type { LabKey } from '../ledger/lab-record.ts';
import type { KeyRecord } from '../litellm/types.ts';

/** What a key had spent when it was deleted (or moved): LiteLLM's `spend` (this budget period) and, from v1.103, its lifetime `total_spend`. */
export interface KeySpend {
  readonly alias: string;
  readonly keyId: string;
  readonly spend: number;
  readonly totalSpend?: number;
}

/** One key's spend as answers and events carry it. */
export function spendOf(key: KeySpend): Record<string, unknown> {
  return {
    litellm_key_alias: key.alias,
    litellm_key_id: key.keyId,
    spend: key.spend,
    ...(key.totalSpend === undefined ? {} : { total_spend: key.totalSpend }),
  };
}

/** What LiteLLM's row of a key says it spent. */
export function spentBy(key: Pick<LabKey, 'alias' | 'keyId'>, record: KeyRecord): KeySpend {
  const spend = { alias: key.alias, keyId: key.keyId, spend: record.spend ?? 0 };
  return record.total_spend === undefined ? spend : { ...spend, totalSpend: record.total_spend };
}
