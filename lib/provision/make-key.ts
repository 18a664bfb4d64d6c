import { ConflictError, UpstreamError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf, isLabKey } from '../key-identity.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { aliasRefused, isFault, type LiteLlmResponseError } from '../litellm/errors.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { KeySpec } from './key-spec.ts';

/** Why a provision read LiteLLM's keys by alias, and what it found: the answer says so. */
export type AliasLookup = 'own-key' | 'left-behind' | 'nobody';

export interface MadeKey {
  readonly key: LabKey;
  /** Set when LiteLLM refused the alias as taken and the holders were looked up. */
  readonly lookup?: AliasLookup;
}

async function live(entry: LabKey, expires: string | null, deps: LabOperationDeps): Promise<LabKey> {
  const at = expiryOf({ expires });
  const { version } = await deps.litellm.release();
  return {
    ...entry,
    status: 'live',
    ...(at ? { expiresAt: at.toISOString() } : {}),
    ...(version ? { madeOn: version } : {}),
  };
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
 * again), anything else, which is refused and left alone, or nobody: then the key is asked for once
 * more, and a second refusal with nobody holding the alias was not about a duplicate at all.
 */
export async function generateIntended(
  spec: KeySpec,
  entry: LabKey,
  value: string,
  lab: Lab,
  deps: LabOperationDeps,
): Promise<MadeKey> {
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
  let lookup: AliasLookup | undefined;
  for (;;) {
    let refusal: LiteLlmResponseError;
    try {
      const { expires } = await deps.litellm.generateKey(request);
      return { key: await live(entry, expires, deps), ...(lookup ? { lookup } : {}) };
    } catch (error) {
      if (!isFault(error, 'duplicate-alias')) throw error;
      refusal = error;
    }
    // A duplicate is confirmed by its holder. One gone by the time it is looked for (deleted
    // meanwhile) earns one more try; refused again with nobody holding it, it was no duplicate.
    const holders = await deps.litellm.listKeysByAlias(spec.alias);
    if (holders.length === 0) {
      if (lookup === 'nobody') throw aliasRefused(spec.alias, entry.target, refusal);
      lookup = 'nobody';
      continue;
    }
    const mine = holders.find((holder) => holder.token === entry.keyId);
    if (mine) return { key: await live(entry, mine.expires, deps), lookup: 'own-key' };
    if (lookup === 'left-behind') {
      throw new UpstreamError(
        `LiteLLM target ${entry.target} still refuses key alias ${spec.alias} after the keys this lab had left ` +
          'under it were deleted; nothing was created: retry',
      );
    }
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
    lookup = 'left-behind';
  }
}
