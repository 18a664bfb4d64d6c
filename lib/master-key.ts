import { ConfigError } from './errors.ts';
import { registerSecret } from './log.ts';

/** What the master-key secret holds: the key, and LiteLLM's database for direct deletion. */
export interface MasterSecret {
  readonly masterKey: string;
  readonly databaseUrl?: string;
}

/**
 * Accepts the secret as middy hands it over: a plain `sk-...` string, or the parsed JSON
 * `{"master_key": "sk-...", "database_url": "postgres://..."}`. Both values are registered for
 * log redaction before anything else can print them.
 */
export function readMasterSecret(value: unknown): MasterSecret {
  if (typeof value === 'string' && value.trim()) {
    registerSecret(value.trim());
    return { masterKey: value.trim() };
  }
  if (value && typeof value === 'object') {
    const { master_key: masterKey, database_url: databaseUrl } = value as Record<string, unknown>;
    if (typeof masterKey === 'string' && masterKey.trim()) {
      registerSecret(masterKey.trim());
      if (typeof databaseUrl === 'string') registerSecret(databaseUrl);
      return { masterKey: masterKey.trim(), ...(typeof databaseUrl === 'string' ? { databaseUrl } : {}) };
    }
  }
  throw new ConfigError(
    'LITELLM_MASTER_KEY_SECRET_ID must hold a master key string or JSON {"master_key": "sk-..."}',
  );
}
