import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { awsUnavailable, countThrottling } from '../aws-errors.ts';
import { traced } from '../tracer-state.ts';

let client: DynamoDBDocumentClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
export function dynamo(): DynamoDBDocumentClient {
  client ??= DynamoDBDocumentClient.from(traced(new DynamoDBClient({})), {
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
    countThrottling('DynamoDB', error);
    throw awsUnavailable(`DynamoDB ${action}`, error) ?? error;
  }
}

/** Every page of one query, in order: for readers that need the whole answer, not a cursor. */
export async function* queryPages(
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): AsyncGenerator<QueryCommandOutput> {
  let start: Record<string, unknown> | undefined;
  do {
    const out = await send('Query', () =>
      dynamo().send(new QueryCommand({ ...input, ExclusiveStartKey: start })),
    );
    yield out;
    start = out.LastEvaluatedKey;
  } while (start);
}

export const LABS_BY_STATE = 'labs-by-state';
export const LABS_BY_CLIENT = 'labs-by-client';
export const LABS_BY_SWEEP = 'labs-by-sweep';
export const LABS_IN_FLIGHT = 'labs-in-flight';
