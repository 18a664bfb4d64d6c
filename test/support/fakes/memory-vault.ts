import {
  encryptionContext,
  type KeyVault,
  SealBrokenError,
  type SealContext,
} from '../../../lib/vault/key-vault.ts';

/** Sealing in memory: a sealed value opens only under the context it was sealed with, as with KMS. */
export class MemoryVault implements KeyVault {
  async seal(value: string, context: SealContext): Promise<string> {
    return Buffer.from(JSON.stringify({ context: encryptionContext(context), value })).toString('base64');
  }

  async open(sealed: string, context: SealContext): Promise<string> {
    const { context: sealedFor, value } = JSON.parse(Buffer.from(sealed, 'base64').toString('utf8')) as {
      context: Record<string, string>;
      value: string;
    };
    if (JSON.stringify(sealedFor) !== JSON.stringify(encryptionContext(context)))
      throw new SealBrokenError(context);
    return value;
  }
}
