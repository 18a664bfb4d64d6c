import { eachLimited } from '../concurrency.ts';
import { verifyGone } from '../destroy/verify-gone.ts';
import { UpstreamError } from '../errors.ts';
import type { KeyStore } from '../key-store.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LabRecord } from '../ledger/records.ts';
import { entryTarget, recordedTargetName } from '../targets/lab-target.ts';
import type { LiteLlmTarget } from '../targets/target-config.ts';
import type { TargetConnections, TargetDeps } from '../targets/target-connections.ts';

export interface LeftoverDeps {
  /** The lab's own target; keys recorded on any other are leftovers of a move. */
  readonly target: LiteLlmTarget;
  readonly targets: TargetConnections;
  readonly ledger: LabLedger;
  readonly keyStore: KeyStore;
  readonly concurrency: number;
}

/**
 * Delete recorded keys of a lab on one target, verify each gone, and drop them from the ledger;
 * anything still there is an error, so a retry finds it recorded. Returns how many LiteLLM held.
 */
export async function deleteRecordedKeys(
  entries: readonly KeyEntry[],
  on: TargetDeps,
  ledger: LabLedger,
  why: string,
): Promise<number> {
  if (entries.length === 0) return 0;
  const held = await on.litellm.getKeysInfo(entries.map((entry) => entry.keyId));
  if (held.size > 0) await on.litellm.deleteKeys([...held.keys()]);
  const checks = await verifyGone(
    entries.map((entry) => ({ alias: entry.alias, keyId: entry.keyId })),
    on.litellm,
    on.target.maxConnections,
  );
  const left = checks.filter((check) => !check.gone);
  if (left.length > 0)
    throw new UpstreamError(
      `LiteLLM target ${on.target.name} still holds ${left.map((check) => check.alias).join(', ')} after /key/delete; ${why}`,
    );
  await ledger.deleteKeys(entries);
  return held.size;
}

/**
 * What a move that did not finish left behind, for a destroy: the lab's keys recorded on a target
 * other than its own (the new keys of a move not yet committed, or the old ones of a committed
 * one), and the new values staged for it. Returns how many keys were deleted.
 */
export async function deleteMoveLeftovers(
  lab: LabRecord | undefined,
  entries: readonly KeyEntry[],
  deps: LeftoverDeps,
): Promise<number> {
  const others = entries.filter((entry) => entryTarget(entry) !== deps.target.name);
  let deleted = 0;
  for (const name of new Set(others.map(entryTarget))) {
    const on = await deps.targets.connect(deps.targets.recorded(name));
    const group = others.filter((entry) => entryTarget(entry) === name);
    deleted += await deleteRecordedKeys(group, on, deps.ledger, 'a retry of the destroy finishes the job');
  }
  const stagedFor = lab?.movingTo ?? (lab?.movingFrom ? recordedTargetName(lab) : undefined);
  if (stagedFor) {
    const aliases = [...new Set(entries.map((entry) => entry.alias))];
    await eachLimited(aliases, deps.concurrency, (alias) =>
      deps.keyStore.delete(deps.keyStore.movingNameOf(alias, stagedFor)),
    );
  }
  return deleted;
}
