import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { traced } from './tracer-state.ts';

let client: SecretsManagerClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
export function secretsManager(): SecretsManagerClient {
  client ??= traced(new SecretsManagerClient({}));
  return client;
}
