import type { LabKey } from '../ledger/lab-record.ts';
import { releaseAtLeast } from '../litellm/release.ts';
import type { KeyRecord } from '../litellm/types.ts';

/** What an operator is told when a lifetime spend may lack LiteLLM's backfill. */
export const BACKFILL_NOTE =
  'LiteLLM may not have backfilled total_spend for keys made before the proxy was upgraded to v1.103 (it ' +
  'then counts only the spend since the upgrade); spend is the larger of total_spend and the period’s spend. ' +
  'Run the total_spend backfill script LiteLLM ships from v1.104 (PR #42967) to make it whole';

/** The release that gave keys a lifetime `total_spend` (PR #41403). */
const TOTAL_SPEND_SINCE = '1.103.0';

/**
 * What a key had spent when it was read (at destroy, move or status). LiteLLM's `spend` is this
 * budget period's; its lifetime `total_spend` (v1.103 on) is not backfilled for keys made before the
 * proxy had it (its backfill script ships with v1.104, PR #42967), so it can be the smaller one.
 */
export interface KeySpend {
  readonly alias: string;
  readonly keyId: string;
  /** The larger of lifetime and period spend: the least the key is known to have cost. */
  readonly spend: number;
  /** LiteLLM's `spend`: this budget period's. */
  readonly periodSpend: number;
  /** LiteLLM's lifetime `total_spend`, where the proxy reports one. */
  readonly totalSpend?: number;
  /** The key predates `total_spend` on its proxy, so LiteLLM may not have backfilled it. */
  readonly mayLackBackfill: boolean;
}

/**
 * Whether `total_spend` may hold only what the key spent since the proxy's upgrade: it is below the
 * period's spend (lab keys have no budget period, so their `spend` is lifetime spend: this is what
 * a missing backfill looks like), or the ledger recorded the key as made on a release without it.
 */
function mayLackBackfill(key: Pick<LabKey, 'madeOn'>, periodSpend: number, totalSpend: number): boolean {
  if (totalSpend < periodSpend) return true;
  if (key.madeOn === undefined) return false;
  return releaseAtLeast({ version: key.madeOn, verdict: 'unknown' }, TOTAL_SPEND_SINCE) !== true;
}

/** What LiteLLM's row of a key says it spent. */
export function spentBy(key: Pick<LabKey, 'alias' | 'keyId' | 'madeOn'>, record: KeyRecord): KeySpend {
  const periodSpend = record.spend ?? 0;
  const totalSpend = record.total_spend;
  return {
    alias: key.alias,
    keyId: key.keyId,
    spend: Math.max(periodSpend, totalSpend ?? 0),
    periodSpend,
    ...(totalSpend === undefined ? {} : { totalSpend }),
    mayLackBackfill: totalSpend !== undefined && mayLackBackfill(key, periodSpend, totalSpend),
  };
}

/** One key's spend fields as answers and events carry them. */
export function spendFields(spent: KeySpend): Record<string, unknown> {
  return {
    spend: spent.spend,
    period_spend: spent.periodSpend,
    ...(spent.totalSpend === undefined ? {} : { total_spend: spent.totalSpend }),
    ...(spent.mayLackBackfill ? { total_spend_may_lack_backfill: true } : {}),
  };
}

/** One key's spend as answers and events carry it. */
export function spendOf(spent: KeySpend): Record<string, unknown> {
  return { litellm_key_alias: spent.alias, litellm_key_id: spent.keyId, ...spendFields(spent) };
}

/** A lab's spend: the sum of its keys' (each the larger of lifetime and period), and whether any may lack the backfill. */
export function labSpend(spent: readonly KeySpend[]): { total: number; mayLackBackfill: boolean } {
  return {
    total: spent.reduce((sum, key) => sum + key.spend, 0),
    mayLackBackfill: spent.some((key) => key.mayLackBackfill),
  };
}
