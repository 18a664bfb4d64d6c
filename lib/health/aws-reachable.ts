import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../ledger/table.ts';
import { traced } from '../tracer-state.ts';

/** An AWS dependency as GET /health reports it. */
export interface Reachable {
  readonly reachable: boolean;
  /** KMS only: the key's state (`Enabled`; anything else refuses to seal and open). */
  readonly key_state?: string;
  readonly error?: string;
}

/** An SDK failure as a caller may read it: the call and the error's name, nothing of the request. */
const why = (call: string, error: unknown) => `${call}: ${error instanceof Error ? error.name : 'failed'}`;

/** One read of an item that never exists: proves the table is there and readable, at half a read unit. */
export async function ledgerReachable(table: string): Promise<Reachable> {
  try {
    await dynamo().send(new GetCommand({ TableName: table, Key: { pk: 'META', sk: 'HEALTH' } }));
    return { reachable: true };
  } catch (error) {
    return { reachable: false, error: why('DynamoDB GetItem', error) };
  }
}

let client: KMSClient | undefined;

/** The key values' key described: KMS answers, and the key can seal and open (Enabled). */
export async function kmsReachable(keyId: string): Promise<Reachable> {
  try {
    client ??= traced(new KMSClient({}));
    const out = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    const state = out.KeyMetadata?.KeyState ?? 'unknown';
    return { reachable: state === 'Enabled', key_state: state };
  } catch (error) {
    return { reachable: false, error: why('KMS DescribeKey', error) };
  }
}
