import { DecryptCommand, EncryptCommand, InvalidCiphertextException, KMSClient } from '@aws-sdk/client-kms';
import { awsUnavailable, countThrottling } from '../aws-errors.ts';
import { Problem } from '../errors.ts';
import { traced } from '../tracer-state.ts';

/**
 * What a sealed key value is bound to: KMS refuses to open it under any other context, so a value
 * copied to another lab, alias, key or target in the ledger does not decrypt.
 */
export interface SealContext {
  readonly target: string;
  readonly guid: string;
  readonly alias: string;
  /** LiteLLM's token of the key the value is: the sha256 of the value. */
  readonly keyId: string;
}

/** Key values sealed for the ledger: the table holds ciphertext only. */
export interface KeyVault {
  /** One KMS Encrypt; base64 ciphertext. */
  seal(value: string, context: SealContext): Promise<string>;
  /** One KMS Decrypt; refuses a ciphertext sealed under another context. */
  open(sealed: string, context: SealContext): Promise<string>;
}

/** A sealed value that does not open under its record's context: it was copied or tampered with. */
export class SealBrokenError extends Problem {
  override name = 'SealBrokenError';
  constructor(context: SealContext, options?: ErrorOptions) {
    super(
      500,
      'key-value-unreadable',
      'Stored key value unreadable',
      `the stored value of ${context.alias} (lab ${context.guid}, target ${context.target}) does not open under its own record; it is not handed out`,
      [],
      options,
    );
  }
}

/** KMS's encryption context: string pairs, named as in the ledger and IAM conditions. */
export function encryptionContext(context: SealContext): Record<string, string> {
  return { target: context.target, guid: context.guid, alias: context.alias, key_id: context.keyId };
}

let client: KMSClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
function kms(): KMSClient {
  client ??= traced(new KMSClient({}));
  return client;
}

/** KMS refused the function itself: its role, the key policy or the key's state must change. */
export class KeyVaultRefusedError extends Problem {
  override name = 'KeyVaultRefusedError';
  constructor(action: string, reason: string, options?: ErrorOptions) {
    super(
      500,
      'key-vault-refused',
      'KMS refused the service',
      `KMS refused ${action} (${reason}): the function's role, the KMS key's policy or the key's state (disabled, deleted) does not allow it; no key was handed out`,
      [],
      options,
    );
  }
}

const REFUSALS = new Set([
  'AccessDeniedException',
  'DisabledException',
  'NotFoundException',
  'KMSInvalidStateException',
]);

/** Throttling and outages are 503s to retry; a refusal of the function itself is a deployment fault, named. */
function kmsFailure(action: string, error: unknown): unknown {
  countThrottling('KMS', error);
  if (error instanceof Error && REFUSALS.has(error.name))
    return new KeyVaultRefusedError(action, error.name, { cause: error });
  return awsUnavailable(`KMS ${action}`, error) ?? error;
}

/** Key values sealed with a symmetric KMS key, one call per value. */
export class KmsKeyVault implements KeyVault {
  constructor(private readonly keyId: string) {}

  async seal(value: string, context: SealContext): Promise<string> {
    try {
      const out = await kms().send(
        new EncryptCommand({
          KeyId: this.keyId,
          Plaintext: Buffer.from(value, 'utf8'),
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!out.CiphertextBlob) throw new Error('KMS Encrypt answered without a ciphertext');
      return Buffer.from(out.CiphertextBlob).toString('base64');
    } catch (error) {
      throw kmsFailure('Encrypt', error);
    }
  }

  async open(sealed: string, context: SealContext): Promise<string> {
    try {
      const out = await kms().send(
        new DecryptCommand({
          KeyId: this.keyId,
          CiphertextBlob: Buffer.from(sealed, 'base64'),
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!out.Plaintext) throw new Error('KMS Decrypt answered without a plaintext');
      return Buffer.from(out.Plaintext).toString('utf8');
    } catch (error) {
      if (error instanceof InvalidCiphertextException) throw new SealBrokenError(context, { cause: error });
      throw kmsFailure('Decrypt', error);
    }
  }
}
