import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { expiryOf, hashKey, isLabKey, keyAlias, keySecretName } from '../key-identity.ts';
import { readStoredKey } from '../key-store.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { KeyRecord } from '../litellm/types.ts';

/** A key of the lab as LiteLLM holds it, with its raw value when Secrets Manager has it. */
export interface LabKey {
  readonly alias: string;
  /** LiteLLM's token: the sha256 of the raw key. */
  readonly keyId: string;
  readonly record: KeyRecord;
  readonly value?: string;
}

/** One alias of the lab: its stored key (if any), this lab's keys under it and anything else holding it. */
export interface LabAlias {
  readonly alias: string;
  readonly secretName: string;
  readonly stored?: { readonly value: string; readonly keyId: string; readonly arn: string };
  readonly keys: readonly LabKey[];
  /** Keys under the alias that are not this lab's (no marker, another guid): never touched. */
  readonly foreign: readonly KeyRecord[];
}

export interface LabKeys {
  readonly guid: string;
  readonly aliases: readonly LabAlias[];
}

/** The aliases a lab's keys live under. */
function aliasesOf(guid: string): string[] {
  return [keyAlias(guid)];
}

/**
 * What LiteLLM and Secrets Manager hold for a lab: one exact-alias `/key/list` call and one secret
 * read per alias, whatever the number of keys in LiteLLM.
 */
export async function findLabKeys(
  guid: string,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'litellm'>,
): Promise<LabKeys> {
  const aliases = await eachLimited(aliasesOf(guid), config.litellm.maxConnections, async (alias) => {
    const secretName = keySecretName(config.keySecretPrefix, alias);
    const [stored, holders] = await Promise.all([readStoredKey(secretName), litellm.listKeysByAlias(alias)]);
    const storedKey =
      stored.state === 'present'
        ? { value: stored.value, keyId: hashKey(stored.value), arn: stored.arn }
        : undefined;
    const keys: LabKey[] = [];
    const foreign: KeyRecord[] = [];
    for (const record of holders) {
      if (!record.token || !isLabKey(record, guid)) {
        foreign.push(record);
        continue;
      }
      const value = storedKey?.keyId === record.token ? storedKey.value : undefined;
      keys.push({
        alias,
        keyId: record.token,
        record,
        ...(value ? { value } : {}),
      });
    }
    return {
      alias,
      secretName,
      ...(storedKey ? { stored: storedKey } : {}),
      keys,
      foreign,
    } satisfies LabAlias;
  });
  return { guid, aliases };
}

export function labKeysOf(lab: LabKeys): LabKey[] {
  return lab.aliases.flatMap((alias) => alias.keys);
}

/** The package a key was made for, as its metadata records it. */
export function packageOf(record: KeyRecord): string {
  const name = record.metadata?.package;
  return typeof name === 'string' && name ? name : 'unknown';
}

/** What result events and metrics tell of a lab's keys; never a key value. */
export interface LabSummary {
  readonly models: readonly string[];
  /** The latest expiry among the keys. */
  readonly expires: Date | undefined;
  readonly secretArns: readonly string[];
  /** Keys per package. */
  readonly packages: ReadonlyMap<string, number>;
}

export function summariseLab(lab: LabKeys): LabSummary {
  const keys = labKeysOf(lab);
  const expiries = keys.map((key) => expiryOf(key.record)?.getTime()).filter((t) => t !== undefined);
  return {
    models: [...new Set(keys.flatMap((key) => key.record.models))],
    expires: expiries.length > 0 ? new Date(Math.max(...expiries)) : undefined,
    secretArns: lab.aliases.flatMap((alias) => (alias.stored ? [alias.stored.arn] : [])),
    packages: keys.reduce(
      (counts, key) => counts.set(packageOf(key.record), (counts.get(packageOf(key.record)) ?? 0) + 1),
      new Map<string, number>(),
    ),
  };
}
