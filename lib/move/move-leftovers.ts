import { eachLimited } from '../concurrency.ts';
import { UpstreamError } from '../errors.ts';
import { hashKey } from '../key-identity.ts';
import type { KeyStore } from '../key-store.ts';
import type { KeySpend } from '../lab/key-spend.ts';
import type { LabLedger } from '../ledger/lab-ledger.ts';
import type { KeyEntry, LabRecord } from '../ledger/records.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import { entryTarget, recordedTargetName } from '../targets/lab-target.ts';
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
 * Delete recorded keys of a lab on one target, read them back (one bulk read, as the sweep checks
 * its deletions) and drop those gone from the ledger; anything still there is an error, so a retry
 * finds it recorded. Returns what each key LiteLLM held had spent.
 */
export async function deleteRecordedKeys(
  entries: readonly KeyEntry[],
  on: TargetDeps,
  ledger: LabLedger,
  why: string,
): Promise<KeySpend[]> {
  if (entries.length === 0) return [];
  const keyIds = entries.map((entry) => entry.keyId);
  const held = await on.litellm.getKeysInfo(keyIds);
  if (held.size > 0) await on.litellm.deleteKeys([...held.keys()]);
  const still = held.size > 0 ? await on.litellm.getKeysInfo([...held.keys()]) : new Map();
  // Those gone leave the ledger even when others did not go: nothing stays recorded that is not there.
  await ledger.deleteKeys(entries.filter((entry) => !still.has(entry.keyId)));
  const left = entries.filter((entry) => still.has(entry.keyId));
  if (left.length > 0)
    throw new UpstreamError(
      `LiteLLM target ${on.target.name} still holds ${left.map((entry) => entry.alias).join(', ')} after /key/delete; ${why}`,
    );
  return entries.flatMap((entry) => {
    const record = held.get(entry.keyId);
    if (!record) return [];
    const spend = { alias: entry.alias, keyId: entry.keyId, spend: record.spend ?? 0 };
    return [record.total_spend === undefined ? spend : { ...spend, totalSpend: record.total_spend }];
  });
}

/**
 * What a move that did not finish left behind, for a destroy: the lab's keys recorded on a target
 * other than its own (the new keys of a move not yet committed, or the old ones of a committed
 * one), and the new values staged for it. Returns what each key deleted had spent.
 */
export async function deleteMoveLeftovers(
  lab: LabRecord | undefined,
  entries: readonly KeyEntry[],
  deps: LeftoverDeps,
): Promise<KeySpend[]> {
  const aliases = [...new Set(entries.map((entry) => entry.alias))];
  const stagedFor = lab?.movingTo ?? (lab?.movingFrom ? recordedTargetName(lab) : undefined);
  const staged = lab && stagedFor ? await stagedKeys(lab.guid, aliases, stagedFor, deps) : [];
  // By key id: a staged value's key is usually recorded too.
  const others = new Map<string, KeyEntry>();
  for (const entry of [...entries, ...staged])
    if (entryTarget(entry) !== deps.target.name && !others.has(entry.keyId)) others.set(entry.keyId, entry);
  const deleted: KeySpend[] = [];
  for (const name of new Set([...others.values()].map(entryTarget))) {
    const on = await deps.targets.connect(deps.targets.recorded(name));
    const group = [...others.values()].filter((entry) => entryTarget(entry) === name);
    deleted.push(
      ...(await deleteRecordedKeys(group, on, deps.ledger, 'a retry of the destroy finishes the job')),
    );
  }
  if (stagedFor) {
    await eachLimited(aliases, deps.concurrency, (alias) =>
      deps.keyStore.delete(deps.keyStore.movingNameOf(alias, stagedFor)),
    );
  }
  return deleted;
}

/**
 * The keys a move may have made on its new target without recording them (the answer to
 * /key/generate lost, then the run stopped): one per value it staged, found by the value's hash.
 */
async function stagedKeys(
  guid: string,
  aliases: readonly string[],
  target: string,
  { keyStore, concurrency }: LeftoverDeps,
): Promise<KeyEntry[]> {
  const names = aliases.map((alias) => keyStore.movingNameOf(alias, target));
  const values = await eachLimited(names, concurrency, (name) => keyStore.read(name));
  return aliases.flatMap((alias, index) => {
    const value = values[index];
    if (value?.state !== 'present') return [];
    const keyId = hashKey(value.value);
    return [
      { guid, target, alias, keyId, secretName: names[index] ?? '', package: 'unknown', createdAt: '' },
    ];
  });
}
