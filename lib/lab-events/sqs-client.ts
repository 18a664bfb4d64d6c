import { SQSClient } from '@aws-sdk/client-sqs';
import { traced } from '../tracer-state.ts';

let client: SQSClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
export function sqs(): SQSClient {
  client ??= traced(new SQSClient({}));
  return client;
}
