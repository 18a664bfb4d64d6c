import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsUnavailable } from '../aws-errors.ts';

let client: DynamoDBDocumentClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
export function dynamo(): DynamoDBDocumentClient {
  client ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return client;
}

/** A conditional write that found the item not as it expected. */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException;
}

/** Run one DynamoDB call; failures a retry may cure become 503, condition failures pass through. */
export async function send<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isConditionFailure(error)) throw error;
    throw awsUnavailable(`DynamoDB ${action}`, error) ?? error;
  }
}

/** Partition of a lab: its own item and one item per key. */
export const labKey = (guid: string) => ({ pk: `LAB#${guid}`, sk: 'LAB' });
/** A key's item: by alias and token, since LiteLLM's alias race can leave a lab from before the ledger two keys under one alias. */
export const keyItemKey = (key: { guid: string; alias: string; keyId: string }) => ({
  pk: `LAB#${key.guid}`,
  sk: `KEY#${key.alias}#${key.keyId}`,
});
export const LAB_PARTITION = (guid: string) => `LAB#${guid}`;

export const LABS_BY_STATE = 'labs-by-state';
export const KEYS_BY_EXPIRY = 'keys-by-expiry';
/** Live keys are spread over this many partitions of the expiry index. */
export const SWEEP_SHARDS = 8;
