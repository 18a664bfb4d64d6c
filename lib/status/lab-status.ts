import { logRawKeyRead } from '../auth/access.ts';
import type { Caller } from '../auth/client-grants.ts';
import { eachLimited } from '../concurrency.ts';
import { formatExpiry } from '../duration.ts';
import { NotFoundError } from '../errors.ts';
import type { TargetedDeps } from '../invocation/deps.ts';
import { expiryOf, isExpired } from '../key-identity.ts';
import { spendFields, spentBy } from '../lab/key-spend.ts';
import { openKey } from '../lab/key-values.ts';
import { keysOnTarget, type Lab } from '../ledger/lab-record.ts';

/**
 * `GET /keys/{guid}`: every key the ledger records for the lab on its target, as LiteLLM holds it
 * now (one call), expired ones included; 404 when none. Raw keys only for a caller with
 * `read-key` (one KMS call each), and each such read is logged. The caller is known to own the
 * lab (or hold `all-labs`): the operation checked that before it reached the lab's target.
 */
export async function labStatus(
  lab: Lab,
  deps: TargetedDeps & { readonly caller: Caller },
): Promise<Record<string, unknown>> {
  const now = deps.now();
  const recorded = keysOnTarget(lab).filter((key) => key.status === 'live');
  const records =
    recorded.length > 0 ? await deps.litellm.getKeysInfo(recorded.map((key) => key.keyId)) : new Map();
  const found = recorded.filter((key) => records.has(key.keyId));
  if (found.length === 0) {
    throw new NotFoundError(
      lab.state === 'destroyed'
        ? `lab ${lab.guid} has no key (destroyed at ${lab.destroyedAt})`
        : `lab ${lab.guid} has no key`,
    );
  }
  const withValues = deps.caller.scopes.has('read-key');
  const values = withValues
    ? await eachLimited(found, deps.concurrency, async (key) =>
        // A role-made key's value was never kept: it is listed without one.
        key.sealed === undefined ? undefined : openKey(deps.vault, lab.guid, key),
      )
    : [];
  logRawKeyRead(
    deps.caller,
    lab.guid,
    found.filter((_, index) => values[index] !== undefined).map((key) => key.alias),
  );
  return {
    guid: lab.guid,
    ...(lab.state ? { state: lab.state } : {}),
    ...(lab.roleMade ? { role_made: true } : {}),
    litellm_target: deps.target.name,
    keys: found.map((key, index) => {
      const record = records.get(key.keyId);
      const value = values[index];
      return {
        litellm_key_alias: key.alias,
        ...(key.user ? { user: key.user } : {}),
        litellm_key_id: key.keyId,
        litellm_available_models: record.models,
        litellm_key_expires: formatExpiry(expiryOf(record)),
        expired: isExpired(record, now),
        ...spendFields(spentBy(key, record)),
        max_budget: record.max_budget ?? null,
        blocked: record.blocked === true,
        created_at: record.created_at ?? null,
        package: record.metadata?.package ?? null,
        ...(value ? { litellm_virtual_key: value } : {}),
      };
    }),
  };
}
