import { createHash } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  ListSecretsCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { awsUnavailable } from './aws-errors.ts';
import type { SecretProtection } from './config.ts';
import { UnavailableError } from './errors.ts';
import { hashKey, keyAlias, keySecretName, MANAGED_BY } from './key-identity.ts';
import { secretsManager } from './secrets-manager.ts';

/**
 * Raw key values, one Secrets Manager secret per key. The value is stored before LiteLLM ever
 * sees it, and secrets are written only through atomic operations (CreateSecret, PutSecretValue
 * with a request token), so concurrent callers always end up agreeing on one value.
 */
export type StoredKey =
  | {
      readonly state: 'present';
      readonly value: string;
      readonly arn: string;
      readonly versionId: string;
      /** When this value was written. */
      readonly writtenAt: Date | undefined;
    }
  | { readonly state: 'absent' };

export interface PinnedKey {
  readonly value: string;
  readonly arn: string;
  /** False when another caller pinned the value first and this one adopted it. */
  readonly won: boolean;
}

/** Between an alias's secret name and the target a move stages its new value for. */
const MOVING_TO = '.moving-to-';

/** `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>` gives the partition and account. */
const SECRET_ARN = /^arn:([a-z-]+):secretsmanager:[^:]*:(\d{12}):secret:/;

/**
 * A policy denying reads to everyone but `readers`. Deny, not Allow: an Allow in a resource
 * policy adds to identity policies, so only a Deny stops a principal with broad read rights.
 * Role names become ARNs in the secret's own account.
 */
export function readersOnlyPolicy(readers: readonly string[], secretArn: string): string {
  const [, partition, account] = SECRET_ARN.exec(secretArn) ?? [];
  if (!partition || !account) throw new Error(`not a Secrets Manager secret ARN: ${secretArn}`);
  const arns = readers.map((reader) =>
    reader.startsWith('arn:') ? reader : `arn:${partition}:iam::${account}:role/${reader}`,
  );
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OnlyTheServiceReadsKeyValues',
        Effect: 'Deny',
        Principal: '*',
        Action: 'secretsmanager:GetSecretValue',
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': arns } },
      },
    ],
  });
}

function isScheduledForDeletion(error: unknown): boolean {
  return (
    error instanceof InvalidRequestException &&
    /marked for deletion|scheduled for deletion/i.test(error.message)
  );
}

async function send<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (
      error instanceof ResourceNotFoundException ||
      error instanceof ResourceExistsException ||
      isScheduledForDeletion(error)
    ) {
      throw error;
    }
    throw awsUnavailable(`Secrets Manager ${action}`, error) ?? error;
  }
}

/** Same request token for the same supersession, so racing replacements collide instead of both landing. */
function requestToken(seed: string): string {
  return createHash('sha256').update(`replace:${seed}`).digest('hex').slice(0, 64);
}

/** A stored key as ListSecrets describes it: never its value. */
export interface StoredKeyEntry {
  readonly name: string;
  readonly arn: string;
  /** When the value last changed (creation, or a replacement for a new term). */
  readonly changedAt: Date;
}

/**
 * The key values of one deployment: secrets named `<prefix><alias>`, the prefix and the values'
 * protection (KMS key, readers) bound once, so no caller builds a name or forgets the protection.
 * Values are written only through atomic operations (see the top of this file).
 */
export class KeyStore {
  constructor(
    private readonly prefix: string,
    private readonly protection: SecretProtection,
  ) {}

  /** The secret that holds `alias`'s key. */
  nameOf(alias: string): string {
    return keySecretName(this.prefix, alias);
  }

  /**
   * Where a lab being moved to `target` keeps `alias`'s new value until the move commits: beside
   * the alias's own (IAM grants both), under a name no alias can have.
   */
  movingNameOf(alias: string, target: string): string {
    return `${this.nameOf(alias)}${MOVING_TO}${target}`;
  }

  /** A value a move staged: its lab's record finds it (a destroy or the move's retry), never the orphan search. */
  isStagedForMove(name: string): boolean {
    return name.startsWith(this.prefix) && name.includes(MOVING_TO);
  }

  /**
   * What an old key's ledger entry names once a move has switched the alias's stored value to the
   * new target's key: no secret, so nothing that closes or sweeps the old key can delete that value.
   */
  movedOutNameOf(alias: string, target: string): string {
    return `${this.nameOf(alias)}.moved-from-${target}`;
  }

  /** The alias whose key a secret of this store holds. */
  aliasOf(name: string): string {
    return name.slice(this.prefix.length);
  }

  /** The stored value; a secret scheduled for deletion counts as absent. */
  async read(name: string): Promise<StoredKey> {
    try {
      const out = await send('GetSecretValue', () =>
        secretsManager().send(new GetSecretValueCommand({ SecretId: name })),
      );
      if (!out.SecretString || !out.ARN) return { state: 'absent' };
      return {
        state: 'present',
        value: out.SecretString,
        arn: out.ARN,
        versionId: out.VersionId ?? '',
        writtenAt: out.CreatedDate,
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException || isScheduledForDeletion(error))
        return { state: 'absent' };
      throw error;
    }
  }

  /** The lab a stored value was pinned for (its `guid` tag); undefined for a value without one. */
  async pinnedFor(name: string): Promise<string | undefined> {
    const out = await send('DescribeSecret', () =>
      secretsManager().send(new DescribeSecretCommand({ SecretId: name })),
    );
    return out.Tags?.find((tag) => tag.Key === 'guid')?.Value;
  }

  private async readPresent(name: string): Promise<{ value: string; arn: string }> {
    const stored = await this.read(name);
    if (stored.state !== 'present')
      throw new UnavailableError(`Secrets Manager secret ${name} vanished while in use`, 5);
    return { value: stored.value, arn: stored.arn };
  }

  /** Idempotent, so a retry after a failure between creation and policy puts it again. */
  async protect(secretArn: string): Promise<void> {
    if (this.protection.readers.length === 0) return;
    await send('PutResourcePolicy', () =>
      secretsManager().send(
        new PutResourcePolicyCommand({
          SecretId: secretArn,
          ResourcePolicy: readersOnlyPolicy(this.protection.readers, secretArn),
        }),
      ),
    );
  }

  /**
   * Store `value` as the key of `name` unless one is stored already; the loser of a race gets the
   * winner's value. A secret left scheduled for deletion is restored and given the new value.
   * The value is protected before it is handed out or given to LiteLLM.
   */
  async pin(name: string, value: string, tags: Record<string, string>): Promise<PinnedKey> {
    let pinned: PinnedKey;
    try {
      const out = await send('CreateSecret', () =>
        secretsManager().send(
          new CreateSecretCommand({
            Name: name,
            SecretString: value,
            Description: `LiteLLM virtual key, managed by ${MANAGED_BY}`,
            ...(this.protection.kmsKeyId ? { KmsKeyId: this.protection.kmsKeyId } : {}),
            Tags: Object.entries({ 'managed-by': MANAGED_BY, ...tags }).map(([Key, Value]) => ({
              Key,
              Value,
            })),
          }),
        ),
      );
      pinned = { value, arn: out.ARN ?? name, won: true };
    } catch (error) {
      if (error instanceof ResourceExistsException) {
        pinned = { ...(await this.readPresent(name)), won: false };
      } else if (isScheduledForDeletion(error)) {
        return this.restoreAndReplace(name, value);
      } else {
        throw error;
      }
    }
    // The loser protects it too: the winner may have stopped before it did.
    await this.protect(pinned.arn);
    return pinned;
  }

  /** A secret left scheduled for deletion is restored, protected, and given the new value. */
  private async restoreAndReplace(name: string, value: string): Promise<PinnedKey> {
    try {
      await send('RestoreSecret', () => secretsManager().send(new RestoreSecretCommand({ SecretId: name })));
    } catch (error) {
      // A forced deletion still finishing: the name is neither usable nor restorable for a moment.
      if (error instanceof ResourceNotFoundException)
        throw new UnavailableError(`Secrets Manager is still deleting secret ${name}`, 5);
      throw error;
    }
    const restored = await this.readPresent(name);
    await this.protect(restored.arn);
    return this.replace(name, value, hashKey(restored.value));
  }

  /**
   * Put a new value in place of the one identified by `supersedes` (the old key's hash, or the
   * version being replaced). Two callers replacing the same old value share a request token: the
   * first value wins, the second reads it.
   */
  async replace(name: string, value: string, supersedes: string): Promise<PinnedKey> {
    try {
      const out = await send('PutSecretValue', () =>
        secretsManager().send(
          new PutSecretValueCommand({
            SecretId: name,
            SecretString: value,
            ClientRequestToken: requestToken(supersedes),
          }),
        ),
      );
      return { value, arn: out.ARN ?? name, won: true };
    } catch (error) {
      if (error instanceof ResourceExistsException) return { ...(await this.readPresent(name)), won: false };
      throw error;
    }
  }

  /**
   * Delete a key's stored value once the key is verified gone; there is nothing left to recover, so
   * no recovery window. False when it was already gone.
   */
  async delete(name: string): Promise<boolean> {
    try {
      await send('DeleteSecret', () =>
        secretsManager().send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })),
      );
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
  }

  /**
   * Schedule a stored value's deletion with a recovery window: for values the sweep finds without a
   * key, where a mistake (a restored or misconfigured LiteLLM) must stay recoverable. False when gone.
   */
  async scheduleDeletion(name: string, recoveryDays: number): Promise<boolean> {
    try {
      await send('DeleteSecret', () =>
        secretsManager().send(
          new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: recoveryDays }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException || isScheduledForDeletion(error)) return false;
      throw error;
    }
  }

  /**
   * Every stored key value of this deployment (and the users lists of labs from before the
   * ledger), page by page. ListSecrets is the one
   * Secrets Manager action that IAM cannot scope to a name; it returns names and dates, not values.
   */
  async listAll(): Promise<StoredKeyEntry[]> {
    const namePrefix = this.nameOf(keyAlias(''));
    const entries: StoredKeyEntry[] = [];
    let nextToken: string | undefined;
    do {
      const out = await send('ListSecrets', () =>
        secretsManager().send(
          new ListSecretsCommand({
            Filters: [{ Key: 'name', Values: [namePrefix] }],
            MaxResults: 100,
            NextToken: nextToken,
          }),
        ),
      );
      for (const secret of out.SecretList ?? []) {
        // The name filter is a case-insensitive prefix match; only exact-case names are ours.
        if (!secret.Name?.startsWith(namePrefix) || !secret.ARN || secret.DeletedDate) continue;
        const changedAt = secret.LastChangedDate ?? secret.CreatedDate ?? new Date(0);
        entries.push({
          name: secret.Name,
          arn: secret.ARN,
          changedAt,
        });
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return entries;
  }
}
