import { ConflictError, UpstreamError } from '../errors.ts';
import type { LabOperationDeps } from '../invocation/lab-operation.ts';
import { expiryOf, isLabKey } from '../key-identity.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { aliasRefused, isFault, type LiteLlmResponseError } from '../litellm/errors.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { GenerateKeyRequest, KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { KeySpec } from './key-spec.ts';

/** Why a provision read LiteLLM's keys by alias, and what it found: the answer says so. */
export type AliasLookup = 'own-key' | 'left-behind' | 'nobody';

export interface MadeKey {
  readonly key: LabKey;
  /** Set when LiteLLM refused the alias as taken and the holders were looked up. */
  readonly lookup?: AliasLookup;
}

/** An announced key once LiteLLM made it: live, with LiteLLM's expiry and the release that made it. */
export async function markLive(
  entry: LabKey,
  expires: string | null,
  litellm: Pick<KeyApi, 'release'>,
): Promise<LabKey> {
  const at = expiryOf({ expires });
  const { version } = await litellm.release();
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

/** How the holders of an alias LiteLLM refused were judged: one is the key being made, or they were cleared away. */
type Judged = { readonly ours: string | null } | 'cleared';

/**
 * `/key/generate` whose "alias taken" is confirmed by the holders (the only /key/list on a lab's
 * path). `judge` says whether one is the key being made (an earlier answer was lost) or clears them
 * away; it throws for a holder that is not the lab's. A holder gone by the time it is looked for
 * (deleted meanwhile) earns one more try; refused again with nobody holding the alias, it was no
 * duplicate, and the refusal is passed on. The answer says which lookup, if any, was made.
 */
export async function generateConfirmed(
  request: GenerateKeyRequest,
  litellm: Pick<KeyApi, 'generateKey' | 'listKeysByAlias'>,
  target: string,
  judge: (holders: KeyRecord[]) => Promise<Judged>,
): Promise<{ expires: string | null; lookup?: AliasLookup }> {
  let lookup: AliasLookup | undefined;
  for (;;) {
    let refusal: LiteLlmResponseError;
    try {
      const { expires } = await litellm.generateKey(request);
      return { expires, ...(lookup ? { lookup } : {}) };
    } catch (error) {
      if (!isFault(error, 'duplicate-alias')) throw error;
      refusal = error;
    }
    const holders = await litellm.listKeysByAlias(request.key_alias);
    if (holders.length === 0) {
      if (lookup === 'nobody') throw aliasRefused(request.key_alias, target, refusal);
      lookup = 'nobody';
      continue;
    }
    const judged = await judge(holders);
    if (judged !== 'cleared') return { expires: judged.ours, lookup: 'own-key' };
    if (lookup === 'left-behind') {
      throw new UpstreamError(
        `LiteLLM target ${target} still refuses key alias ${request.key_alias} after the keys left under it ` +
          'were deleted; nothing was created: retry',
      );
    }
    lookup = 'left-behind';
  }
}

/**
 * Make an announced key in LiteLLM with its sealed value, and return it live. An alias refused as
 * taken (see generateConfirmed) may be held by this very key, by a key this lab left behind
 * (deleted, then the alias is asked for again), or by anything else, which is refused and left alone.
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
  const { expires, lookup } = await generateConfirmed(
    request,
    deps.litellm,
    entry.target,
    async (holders) => {
      const mine = holders.find((holder) => holder.token === entry.keyId);
      if (mine) return { ours: mine.expires };
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
      return 'cleared';
    },
  );
  return { key: await markLive(entry, expires, deps.litellm), ...(lookup ? { lookup } : {}) };
}
