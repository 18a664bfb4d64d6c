import { BACKFILL_NOTE, spendOf } from '../lab/key-spend.ts';
import type { DestroyedLab } from './destroy-lab.ts';

const CACHE_NOTE =
  'LiteLLM replicas that had cached a key may accept it until their auth cache lapses (60 s by default)';

/** The answer to `DELETE /keys/{guid}`: the contract's fields, then what was verified and how. */
export function destroyResponse(lab: DestroyedLab): Record<string, unknown> {
  const probedOnly = lab.checks.every((check) => check.verifiedBy === 'auth-probe');
  const stillCached = lab.checks.some((check) => check.stillCached);
  return {
    guid: lab.guid,
    litellm_target: lab.target,
    litellm_key_alias: lab.aliases[0],
    litellm_key_aliases: lab.aliases,
    deleted: lab.deletedKeys > 0,
    was_missing: lab.wasMissing,
    deleted_keys: lab.deletedKeys,
    database_deleted_keys: lab.databaseDeleted,
    ...(lab.lateKeysDeleted > 0 ? { late_keys_deleted: lab.lateKeysDeleted } : {}),
    spend: lab.spend.map(spendOf),
    total_spend: lab.totalSpend,
    ...(lab.spendMayLackBackfill ? { total_spend_may_lack_backfill: true, spend_note: BACKFILL_NOTE } : {}),
    verification: lab.checks.map((check) => ({
      litellm_key_alias: check.alias,
      litellm_key_id: check.keyId,
      verified_by: check.verifiedBy,
      ...(check.stillCached ? { still_accepted_from_cache: true } : {}),
    })),
    ...(probedOnly
      ? {}
      : {
          note: stillCached
            ? `A LiteLLM replica still accepted a deleted key from its auth cache; ${CACHE_NOTE}`
            : `Verified with /key/info; ${CACHE_NOTE}`,
        }),
  };
}
