import { eachLimited } from '../concurrency.ts';
import type { Config } from '../config.ts';
import { expiryOf, hashKey, isLabKey, keyAlias, keySecretName } from '../key-identity.ts';
import { readStoredKey } from '../key-store.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { type Roster, readRoster } from './roster.ts';

/** A key of the lab as LiteLLM holds it, with its raw value when Secrets Manager has it. */
export interface LabKey {
  readonly alias: string;
  /** The lab user the key is for; undefined for a single-user lab's key. */
  readonly user?: string;
  /** LiteLLM's token: the sha256 of the raw key. */
  readonly keyId: string;
  readonly record: KeyRecord;
  readonly value?: string;
}

/** One alias of the lab: its stored key (if any), this lab's keys under it and anything else holding it. */
export interface LabAlias {
  readonly alias: string;
  readonly user?: string;
  readonly secretName: string;
  readonly stored?: { readonly value: string; readonly keyId: string; readonly arn: string };
  readonly keys: readonly LabKey[];
  /** Keys under the alias that are not this lab's (no marker, another guid): never touched. */
  readonly foreign: readonly KeyRecord[];
}

export interface LabKeys {
  readonly guid: string;
  readonly aliases: readonly LabAlias[];
  /** The users list of a multi-user lab. */
  readonly roster?: Roster;
}

/** What LiteLLM and Secrets Manager hold under one alias of the lab. */
async function lookUpAlias(
  guid: string,
  user: string | undefined,
  litellm: LiteLlmClient,
  prefix: string,
): Promise<LabAlias> {
  const alias = keyAlias(guid, user);
  const secretName = keySecretName(prefix, alias);
  const [stored, holders] = await Promise.all([readStoredKey(secretName), litellm.listKeysByAlias(alias)]);
  const keys: LabKey[] = [];
  const foreign: KeyRecord[] = [];
  for (const record of holders) {
    if (record.token && isLabKey(record, guid, user)) {
      keys.push({ alias, ...(user ? { user } : {}), keyId: record.token, record });
    } else {
      foreign.push(record);
    }
  }
  const storedKey =
    stored.state === 'present'
      ? { value: stored.value, keyId: hashKey(stored.value), arn: stored.arn }
      : undefined;
  // Lab `a-user1` and user `user1` of lab `a` share a name: a value whose key is another lab's is not ours.
  const ours =
    storedKey && !foreign.some((record) => record.token === storedKey.keyId) ? storedKey : undefined;
  return {
    alias,
    ...(user ? { user } : {}),
    secretName,
    ...(ours ? { stored: ours } : {}),
    keys: keys.map((key) => (key.keyId === ours?.keyId ? { ...key, value: ours.value } : key)),
    foreign,
  };
}

/**
 * What LiteLLM and Secrets Manager hold for a lab: one exact-alias `/key/list` call and one secret
 * read per alias (the lab's, and each user's in its roster), whatever the number of keys in LiteLLM.
 */
export async function findLabKeys(
  guid: string,
  litellm: LiteLlmClient,
  config: Pick<Config, 'keySecretPrefix' | 'litellm'>,
): Promise<LabKeys> {
  const prefix = config.keySecretPrefix;
  const [roster, labWide] = await Promise.all([
    readRoster(prefix, guid),
    lookUpAlias(guid, undefined, litellm, prefix),
  ]);
  const perUser = await eachLimited(roster?.users ?? [], config.litellm.maxConnections, (user) =>
    lookUpAlias(guid, user, litellm, prefix),
  );
  // A multi-user lab has no lab-wide key; its alias counts only if something of the lab is there.
  const withLabWide = !roster || labWide.keys.length > 0 || labWide.stored !== undefined;
  return { guid, aliases: [...(withLabWide ? [labWide] : []), ...perUser], ...(roster ? { roster } : {}) };
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
