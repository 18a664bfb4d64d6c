import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

let client: SecretsManagerClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
export function secretsManager(): SecretsManagerClient {
  client ??= new SecretsManagerClient({});
  return client;
}
