import { randomUUID } from 'node:crypto';
import { recordSecretValue } from '../checks/run-record.ts';
import { AwsError, type AwsJsonBody, AwsJsonStandIn } from './aws-json.ts';
import { mulberry32 } from './litellm/faults.ts';

/**
 * A Secrets Manager endpoint speaking the AWS JSON 1.1 protocol (X-Amz-Target), so the real SDK
 * reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER. It keeps versions and request tokens, and
 * answers with the service's own error types, including "already exists" and "scheduled for deletion".
 */
interface Version {
  id: string;
  value: string;
  /** Seconds, as the service reports dates. */
  created: number;
}
interface StoredSecret {
  arn: string;
  name: string;
  versions: Version[];
  current: string;
  tags: { Key: string; Value: string }[];
  created: number;
  /** Seconds, as the service reports dates: last value change, and the day of the last read. */
  changed: number;
  accessed?: number;
  deletedAt?: number;
  /** The recovery window a scheduled deletion was given, in days. */
  recoveryDays?: number;
  /** The customer-managed KMS key it was created with, if any. */
  kmsKeyId?: string;
  /** The resource policy document (JSON text), if one was put. */
  policy?: string;
}

export class SecretsManagerStandIn extends AwsJsonStandIn {
  protected readonly targetPrefix = 'secretsmanager';
  protected readonly internalError = 'InternalServiceError';
  readonly secrets = new Map<string, StoredSecret>();
  private readonly failures: { operation: string; remaining: number; status: number }[] = [];
  private errorRate = 0;
  /** Calls failed by `failNext` or `failRandomly`. */
  failed = 0;
  private random = mulberry32(1);

  static async start(): Promise<SecretsManagerStandIn> {
    const standIn = new SecretsManagerStandIn();
    await standIn.listen();
    return standIn;
  }

  /** Calls that write: every operation but the reads. */
  mutatingCalls(): number {
    return [...this.calls.entries()]
      .filter(
        ([operation]) =>
          !['GetSecretValue', 'DescribeSecret', 'ListSecrets', 'GetResourcePolicy'].includes(operation),
      )
      .reduce((sum, [, n]) => sum + n, 0);
  }

  /** The next `count` calls of `operation` answer with an InternalServiceError (500) or throttling (400). */
  failNext(operation: string, count = 1, status = 500): void {
    this.failures.push({ operation, remaining: count, status });
  }

  /**
   * From now on, this share of all calls fails before it is applied: half as InternalServiceError
   * (500), half as ThrottlingException (400). Seeded, so a run repeats.
   */
  failRandomly(rate: number, seed = 1): void {
    this.errorRate = rate;
    this.random = mulberry32(seed);
  }

  /** Scripted and random failures end; the secrets stay. */
  clearFailures(): void {
    this.failures.length = 0;
    this.errorRate = 0;
  }

  resetCounters(): void {
    this.calls.clear();
  }

  reset(keep: readonly string[] = []): void {
    for (const name of [...this.secrets.keys()]) if (!keep.includes(name)) this.secrets.delete(name);
    this.failures.length = 0;
    this.errorRate = 0;
    this.failed = 0;
    this.resetCounters();
  }

  /** Set a secret directly (the master key, API tokens). */
  put(name: string, value: string): void {
    recordSecretValue(value, 'operator');
    this.create({ Name: name, SecretString: value });
  }

  /** Replace a secret outright (an operator re-creating the master-key secret). */
  replace(name: string, value: string): void {
    this.secrets.delete(name);
    this.put(name, value);
  }

  /** Move a secret's creation, versions and last change `ms` into the past (a secret left over from earlier days). */
  age(name: string, ms: number): void {
    const secret = this.secrets.get(name);
    if (!secret) throw new Error(`no secret ${name}`);
    secret.created -= ms / 1000;
    secret.changed -= ms / 1000;
    for (const version of secret.versions) version.created -= ms / 1000;
  }

  tagsOf(name: string): Record<string, string> {
    return Object.fromEntries((this.secrets.get(name)?.tags ?? []).map((t) => [t.Key, t.Value]));
  }

  /** As DeleteSecret with a recovery window leaves it. */
  scheduleDeletion(name: string): void {
    this.remove({ SecretId: name });
  }

  override valueOf(name: string): string | undefined {
    const secret = this.secrets.get(name);
    if (!secret || secret.deletedAt) return undefined;
    return secret.versions.find((v) => v.id === secret.current)?.value;
  }

  /** Scripted and random failures come before the call is applied. */
  protected handle(operation: string, body: AwsJsonBody): AwsJsonBody {
    const failure = this.failures.find(
      (f) => f.remaining > 0 && (f.operation === operation || f.operation === '*'),
    );
    const roll = this.errorRate > 0 ? this.random() : 1;
    const status = failure?.status ?? (roll < this.errorRate / 2 ? 500 : 400);
    if (failure) failure.remaining--;
    if (failure || roll < this.errorRate) {
      this.failed++;
      throw status >= 500
        ? new AwsError('InternalServiceError', 'An error occurred on the server side.', status)
        : new AwsError('ThrottlingException', 'Rate exceeded', status);
    }
    if (typeof body.SecretString === 'string') recordSecretValue(body.SecretString, 'service');
    return this.dispatch(operation, body);
  }

  private dispatch(operation: string, body: AwsJsonBody): AwsJsonBody {
    switch (operation) {
      case 'CreateSecret':
        return this.create(body);
      case 'GetSecretValue':
        return this.getValue(body);
      case 'PutSecretValue':
        return this.putValue(body);
      case 'DeleteSecret':
        return this.remove(body);
      case 'RestoreSecret':
        return this.restore(body);
      case 'DescribeSecret':
        return this.describe(body);
      case 'ListSecrets':
        return this.list(body);
      case 'PutResourcePolicy':
        return this.putPolicy(body);
      case 'GetResourcePolicy':
        return this.getPolicy(body);
      case 'TagResource':
        return this.tag(body);
      case 'UntagResource':
        return this.untag(body);
      default:
        throw new AwsError('UnknownOperationException', `unknown operation ${operation}`);
    }
  }

  private find(id: unknown, allowDeleted = false): StoredSecret {
    const key = String(id);
    const secret = this.secrets.get(key) ?? [...this.secrets.values()].find((s) => s.arn === key);
    if (!secret)
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    if (secret.deletedAt && !allowDeleted) {
      throw new AwsError(
        'InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return secret;
  }

  private create(body: AwsJsonBody): AwsJsonBody {
    const name = String(body.Name);
    const existing = this.secrets.get(name);
    if (existing?.deletedAt) {
      throw new AwsError(
        'InvalidRequestException',
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing)
      throw new AwsError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const id = String(body.ClientRequestToken ?? randomUUID());
    const secret: StoredSecret = {
      arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-${randomUUID().slice(0, 6)}`,
      name,
      versions: [{ id, value: String(body.SecretString), created: Date.now() / 1000 }],
      current: id,
      tags: (body.Tags as StoredSecret['tags']) ?? [],
      ...(body.KmsKeyId ? { kmsKeyId: String(body.KmsKeyId) } : {}),
      created: Date.now() / 1000,
      changed: Date.now() / 1000,
    };
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, VersionId: id };
  }

  private getValue(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    const version = secret.versions.find((v) => v.id === secret.current) as Version;
    secret.accessed = Math.floor(Date.now() / 86_400_000) * 86_400;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.value,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: version.created,
    };
  }

  /** A request token names a version: repeating it with the same value is a no-op, with another value an error. */
  private putValue(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    const id = String(body.ClientRequestToken ?? randomUUID());
    const value = String(body.SecretString);
    const existing = secret.versions.find((v) => v.id === id);
    if (existing && existing.value !== value) {
      throw new AwsError(
        'ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    if (!existing) secret.versions.push({ id, value, created: Date.now() / 1000 });
    if (secret.current !== id) secret.changed = Date.now() / 1000;
    secret.current = id;
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: ['AWSCURRENT'] };
  }

  private remove(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId, true);
    if (body.ForceDeleteWithoutRecovery === true) this.secrets.delete(secret.name);
    else {
      secret.deletedAt = Date.now() / 1000;
      secret.recoveryDays = Number(body.RecoveryWindowInDays ?? 30);
    }
    return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
  }

  private restore(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId, true);
    delete secret.deletedAt;
    return { ARN: secret.arn, Name: secret.name };
  }

  /** Stored as given; like Secrets Manager, a document that is not JSON is refused. */
  private putPolicy(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    const policy = String(body.ResourcePolicy ?? '');
    try {
      JSON.parse(policy);
    } catch {
      throw new AwsError('MalformedPolicyDocumentException', 'The resource policy is not valid JSON.');
    }
    secret.policy = policy;
    return { ARN: secret.arn, Name: secret.name };
  }

  private getPolicy(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.policy ? { ResourcePolicy: secret.policy } : {}),
    };
  }

  private describe(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId, true);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Tags: secret.tags,
      ...(secret.kmsKeyId ? { KmsKeyId: secret.kmsKeyId } : {}),
      CreatedDate: secret.created,
      ...(secret.deletedAt ? { DeletedDate: secret.deletedAt } : {}),
    };
  }

  private list(body: AwsJsonBody): AwsJsonBody {
    const filters = (body.Filters as { Key: string; Values: string[] }[] | undefined) ?? [];
    const prefixes = filters.filter((f) => f.Key === 'name').flatMap((f) => f.Values);
    const all = [...this.secrets.values()].filter(
      (s) => !s.deletedAt && (prefixes.length === 0 || prefixes.some((p) => s.name.startsWith(p))),
    );
    const start = Number(body.NextToken ?? 0);
    const size = Number(body.MaxResults ?? 100);
    const page = all.slice(start, start + size);
    return {
      SecretList: page.map((s) => ({
        ARN: s.arn,
        Name: s.name,
        Tags: s.tags,
        CreatedDate: s.created,
        LastChangedDate: s.changed,
        ...(s.accessed ? { LastAccessedDate: s.accessed } : {}),
      })),
      ...(start + size < all.length ? { NextToken: String(start + size) } : {}),
    };
  }

  /** Tags are keyed: a new value replaces the old one. */
  private tag(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    for (const tag of body.Tags as StoredSecret['tags']) {
      secret.tags = [...secret.tags.filter((t) => t.Key !== tag.Key), tag];
    }
    return {};
  }

  private untag(body: AwsJsonBody): AwsJsonBody {
    const secret = this.find(body.SecretId);
    const keys = body.TagKeys as string[];
    secret.tags = secret.tags.filter((t) => !keys.includes(t.Key));
    return {};
  }
}
