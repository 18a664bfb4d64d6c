import { createHash } from 'node:crypto';
import { keyToItem } from '../../lib/ledger/records.ts';
import { keyItemKey, labKey } from '../../lib/ledger/table.ts';
import type { Harness } from './harness.ts';
import type { NewKey } from './litellm/key-table.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface RecordedKey {
  readonly guid: string;
  readonly raw: string;
  readonly keyId: string;
  readonly expires: Date;
}

/**
 * Labs as this service leaves them after provisioning, written straight into the stand-ins for
 * populations too large to provision one by one: each key in LiteLLM (our marker, alias), its value
 * in Secrets Manager, and the lab and key in the ledger.
 */
export async function seedRecordedKeys(
  h: Harness,
  labs: readonly { guid: string; expires: Date; package?: string }[],
  prefix = 'litellm-virtual-keys/',
): Promise<RecordedKey[]> {
  const keys = labs.map((lab) => {
    const raw = `sk-seeded-${lab.guid}-${sha256(lab.guid).slice(0, 24)}`;
    return {
      ...lab,
      raw,
      keyId: sha256(raw),
      alias: `virtkey-${lab.guid}`,
      package: lab.package ?? 'ai-developer',
    };
  });
  const rows: NewKey[] = keys.map((key) => ({
    token: key.keyId,
    key_name: `sk-...${key.raw.slice(-4)}`,
    key_alias: key.alias,
    expires: key.expires,
    models: ['granite-3-2-8b-instruct'],
    metadata: { managed_by: 'litellm-virtual-keys', guid: key.guid, package: key.package },
    user_id: `${key.guid}@lab.opentlc.com`,
    max_budget: null,
    created_by: 'default_user_id',
  }));
  await h.litellm.table.insertMany(rows);
  for (const key of keys) h.secrets.put(`${prefix}${key.alias}`, key.raw);
  const now = new Date().toISOString();
  await h.ledger.putItems(
    keys.flatMap((key) => [
      {
        ...labKey(key.guid),
        guid: key.guid,
        lab_state: 'active',
        package: key.package,
        models: ['granite-3-2-8b-instruct'],
        max_budget: null,
        duration: '30d',
        user_id: `${key.guid}@lab.opentlc.com`,
        target: 'default',
        client: 'seeded',
        created_at: now,
        started_at: now,
        last_event_at: now,
        expires_at: key.expires.toISOString(),
      },
      {
        ...keyItemKey({ guid: key.guid, alias: key.alias, keyId: key.keyId }),
        ...keyToItem({
          guid: key.guid,
          alias: key.alias,
          keyId: key.keyId,
          secretName: `${prefix}${key.alias}`,
          package: key.package,
          expiresAt: key.expires.toISOString(),
          createdAt: now,
        }),
      },
    ]),
  );
  return keys.map(({ guid, raw, keyId, expires }) => ({ guid, raw, keyId, expires }));
}
