import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { recordSecretValue } from '../checks/run-record.ts';
import { AwsError, type AwsJsonBody, AwsJsonStandIn } from './aws-json.ts';

/**
 * A KMS endpoint for Encrypt and Decrypt with symmetric keys, speaking the AWS JSON 1.1 protocol
 * (X-Amz-Target TrentService.*), so the real SDK reaches it through AWS_ENDPOINT_URL_KMS. Keys are
 * AES-256-GCM in memory; the encryption context is bound as additional data, so a ciphertext
 * opens only under the context it was sealed with, as with KMS. It answers with KMS's own error
 * types and can fail calls on request.
 */
interface StoredKey {
  readonly arn: string;
  /** The key's uuid, also its 16 bytes in every ciphertext. */
  readonly id: string;
  readonly material: Buffer;
  enabled: boolean;
}

/** How `failNext` fails a call: throttling (400), access denied (400), KMSInternalException (500). */
export type KmsFault = 'throttled' | 'denied' | 'unavailable';

const KEY_ARN_PREFIX = 'arn:aws:kms:us-east-1:111122223333:key/';
/** The alias the default key answers to, as the stack names its key. */
const DEFAULT_ALIAS = 'alias/litellm-virtual-keys';
const MAX_PLAINTEXT = 4096;
/** Ciphertext layout: version, key uuid, iv, GCM tag, then the encrypted bytes. */
const VERSION = 1;
const HEADER = 1 + 16;
const IV = 12;
const TAG = 16;
const ALGORITHM = 'SYMMETRIC_DEFAULT';

export class KmsStandIn extends AwsJsonStandIn {
  protected readonly targetPrefix = 'TrentService';
  protected readonly internalError = 'KMSInternalException';
  /** By uuid. */
  readonly keys = new Map<string, StoredKey>();
  /** The key made at start, also reached as alias/litellm-virtual-keys. */
  readonly keyArn: string;
  private readonly aliases = new Map<string, string>();
  private readonly failures: { operation: string; remaining: number; kind: KmsFault }[] = [];
  private decryptDenied = false;

  private constructor() {
    super();
    this.keyArn = this.createKey(DEFAULT_ALIAS);
  }

  static async start(): Promise<KmsStandIn> {
    const standIn = new KmsStandIn();
    await standIn.listen();
    return standIn;
  }

  /** A new symmetric key, reachable by ARN, uuid and `alias` if given; returns its ARN. */
  createKey(alias?: string): string {
    const id = randomUUID();
    const key: StoredKey = { arn: KEY_ARN_PREFIX + id, id, material: randomBytes(32), enabled: true };
    this.keys.set(id, key);
    if (alias) this.aliases.set(alias, id);
    return key.arn;
  }

  /** A disabled key refuses Encrypt and Decrypt with DisabledException until enabled again or reset. */
  setKeyEnabled(keyId: string, enabled: boolean): void {
    this.find(keyId).enabled = enabled;
  }

  /** The next `count` calls of `operation` ('*' for any) fail as `kind`, before they are applied. */
  failNext(operation: string, count = 1, kind: KmsFault = 'throttled'): void {
    this.failures.push({ operation, remaining: count, kind });
  }

  /** A principal without kms:Decrypt: every Decrypt is refused, Encrypt still works. */
  denyAll(denied = true): void {
    this.decryptDenied = denied;
  }

  /** Counters, faults, denial and disabled keys end; the keys and aliases stay, so sealed values still open. */
  reset(): void {
    this.calls.clear();
    this.failures.length = 0;
    this.decryptDenied = false;
    for (const key of this.keys.values()) key.enabled = true;
  }

  protected handle(operation: string, body: AwsJsonBody): AwsJsonBody {
    this.injectFault(operation);
    switch (operation) {
      case 'Encrypt':
        return this.encrypt(body);
      case 'Decrypt':
        return this.decrypt(body);
      case 'DescribeKey':
        return this.describe(body);
      default:
        throw new AwsError('UnknownOperationException', `unknown operation ${operation}`);
    }
  }

  private injectFault(operation: string): void {
    const failure = this.failures.find(
      (f) => f.remaining > 0 && (f.operation === operation || f.operation === '*'),
    );
    if (failure) {
      failure.remaining--;
      if (failure.kind === 'throttled')
        throw new AwsError('ThrottlingException', 'You have exceeded the rate at which you may call KMS.');
      if (failure.kind === 'unavailable')
        throw new AwsError('KMSInternalException', 'An internal error occurred.', 500);
      throw denied(operation);
    }
    if (this.decryptDenied && operation === 'Decrypt') throw denied(operation);
  }

  /** A key by ARN, uuid, alias name or alias ARN, as KMS resolves a KeyId. */
  private find(keyId: unknown): StoredKey {
    const text = String(keyId);
    const alias =
      text.startsWith('arn:') && text.includes(':alias/') ? text.slice(text.indexOf('alias/')) : text;
    const id =
      this.aliases.get(alias) ?? (text.startsWith(KEY_ARN_PREFIX) ? text.slice(KEY_ARN_PREFIX.length) : text);
    const key = this.keys.get(id);
    if (!key) throw new AwsError('NotFoundException', `Key '${text}' does not exist`);
    return key;
  }

  /** The key's metadata as KMS gives it (the part the health check reads); a disabled key says so. */
  private describe(body: AwsJsonBody): AwsJsonBody {
    const key = this.find(body.KeyId);
    return {
      KeyMetadata: {
        KeyId: key.id,
        Arn: key.arn,
        Enabled: key.enabled,
        KeyState: key.enabled ? 'Enabled' : 'Disabled',
        KeySpec: ALGORITHM,
        KeyUsage: 'ENCRYPT_DECRYPT',
      },
    };
  }

  private encrypt(body: AwsJsonBody): AwsJsonBody {
    if (typeof body.KeyId !== 'string') throw validation('keyId', 'Member must not be null');
    const plaintext = Buffer.from(String(body.Plaintext ?? ''), 'base64');
    if (plaintext.length === 0 || plaintext.length > MAX_PLAINTEXT) {
      throw validation('plaintext', `Member must have length between 1 and ${MAX_PLAINTEXT}`);
    }
    const key = enabled(this.find(body.KeyId));
    recordSecretValue(plaintext.toString('utf8'), 'service');
    const header = Buffer.concat([Buffer.from([VERSION]), Buffer.from(key.id.replaceAll('-', ''), 'hex')]);
    const iv = randomBytes(IV);
    const cipher = createCipheriv('aes-256-gcm', key.material, iv);
    cipher.setAAD(additionalData(header, body.EncryptionContext));
    const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      CiphertextBlob: Buffer.concat([header, iv, cipher.getAuthTag(), encrypted]).toString('base64'),
      KeyId: key.arn,
      EncryptionAlgorithm: ALGORITHM,
    };
  }

  private decrypt(body: AwsJsonBody): AwsJsonBody {
    const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
    if (blob.length < HEADER + IV + TAG || blob[0] !== VERSION) throw invalidCiphertext();
    const hex = blob.subarray(1, HEADER).toString('hex');
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const key = this.keys.get(id);
    // A blob naming no key of ours was tampered with or made elsewhere: KMS cannot tell them apart.
    if (!key) throw invalidCiphertext();
    if (body.KeyId !== undefined && this.find(body.KeyId) !== key) {
      throw new AwsError(
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
    }
    enabled(key);
    const decipher = createDecipheriv('aes-256-gcm', key.material, blob.subarray(HEADER, HEADER + IV));
    decipher.setAAD(additionalData(blob.subarray(0, HEADER), body.EncryptionContext));
    decipher.setAuthTag(blob.subarray(HEADER + IV, HEADER + IV + TAG));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(blob.subarray(HEADER + IV + TAG)), decipher.final()]);
    } catch {
      throw invalidCiphertext();
    }
    return { Plaintext: plaintext.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: ALGORITHM };
  }
}

/** The header and the context, keys sorted: the same pairs in any order open, any other pairs do not. */
function additionalData(header: Buffer, context: unknown): Buffer {
  const pairs = Object.entries((context ?? {}) as Record<string, unknown>);
  if (pairs.some(([, value]) => typeof value !== 'string')) {
    throw validation('encryptionContext', 'Member must be a map of strings');
  }
  const canonical = JSON.stringify(
    Object.fromEntries(pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
  return Buffer.concat([header, Buffer.from(canonical, 'utf8')]);
}

function enabled(key: StoredKey): StoredKey {
  if (!key.enabled) throw new AwsError('DisabledException', `${key.arn} is disabled.`);
  return key;
}

function denied(operation: string): AwsError {
  return new AwsError(
    'AccessDeniedException',
    `User: arn:aws:sts::111122223333:assumed-role/stand-in/function is not authorized to perform: kms:${operation} because no identity-based policy allows the kms:${operation} action`,
  );
}

function invalidCiphertext(): AwsError {
  return new AwsError(
    'InvalidCiphertextException',
    'The ciphertext is not valid, or does not open under the given encryption context.',
  );
}

function validation(field: string, constraint: string): AwsError {
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}
