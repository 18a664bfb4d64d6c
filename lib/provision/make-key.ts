import { ConflictError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf, isLabKey } from '../key-identity.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { isFault } from '../litellm/errors.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { KeySpec } from './key-spec.ts';

function live(entry: LabKey, expires: string | null): LabKey {
  const at = expiryOf({ expires });
  return { ...entry, status: 'live', ...(at ? { expiresAt: at.toISOString() } : {}) };
}

/**
 * A key under the alias that this lab left behind: one it is deleting, one it looks for again
 * (deleted, or from an earlier generation), or one with its marker made inside the window in which
 * such a key's late /key/generate could land. The marker alone is not proof of anything.
 */
function isLeftover(holder: KeyRecord, lab: Lab, spec: KeySpec, graceMs: number): boolean {
  const token = holder.token ?? '';
  if (lab.keys.some((key) => key.keyId === token && key.status === 'deleting')) return true;
  if (lab.rechecks.some((recheck) => recheck.keyId === token)) return true;
  const created = holder.created_at ? Date.parse(holder.created_at) : Number.NaN;
  return (
    isLabKey(holder, spec.guid, spec.user) &&
    lab.rechecks.some((recheck) => {
      const until = Date.parse(recheck.until);
      return recheck.alias === spec.alias && created >= until - graceMs && created <= until;
    })
  );
}

/**
 * Make an announced key in LiteLLM with its sealed value, and return it live. When LiteLLM refuses
 * the alias as taken, its holders are looked up (the only /key/list on this path): this very key
 * (an earlier answer was lost), a key this lab left behind (deleted, then the alias is asked for
 * again), or anything else, which is refused and left alone.
 */
export async function generateIntended(
  spec: KeySpec,
  entry: LabKey,
  value: string,
  lab: Lab,
  deps: LabOperationDeps,
): Promise<LabKey> {
  const request = {
    key: value,
    key_alias: spec.alias,
    models: spec.models,
    duration: spec.duration,
    user_id: spec.userId,
    metadata: spec.metadata,
    max_budget: spec.maxBudget,
    ...(spec.tpmLimit === undefined ? {} : { tpm_limit: spec.tpmLimit }),
    ...(spec.rpmLimit === undefined ? {} : { rpm_limit: spec.rpmLimit }),
    key_type: 'llm_api',
    allowed_routes: ['llm_api_routes'],
  } as const;
  try {
    return live(entry, (await deps.litellm.generateKey(request)).expires);
  } catch (error) {
    if (!isFault(error, 'duplicate-alias')) throw error;
  }
  const holders = await deps.litellm.listKeysByAlias(spec.alias);
  const mine = holders.find((holder) => holder.token === entry.keyId);
  if (mine) return live(entry, mine.expires);
  const leftovers = holders.filter((holder) => isLeftover(holder, lab, spec, deps.reconcileGraceMs));
  if (leftovers.length < holders.length) {
    throw new ConflictError(
      `key alias ${spec.alias} is held on LiteLLM target ${entry.target} by a key that is not ${
        spec.user ? `user ${spec.user} of lab ${spec.guid}` : `lab ${spec.guid}`
      }'s (another lab's user, or another system); it is left alone`,
    );
  }
  await deps.litellm.deleteKeys(leftovers.flatMap((holder) => (holder.token ? [holder.token] : [])));
  log.warn('deleted keys this lab had left under its alias', {
    alias: spec.alias,
    key_ids: leftovers.map((holder) => holder.token),
  });
  return live(entry, (await deps.litellm.generateKey(request)).expires);
}
