import type { Config } from '../config.ts';
import { keyAlias, keySecretName, MANAGED_BY } from '../key-identity.ts';
import type { ProvisionRequest } from './request.ts';

/** Everything needed to make (or find) one key of a lab. */
export interface KeySpec {
  readonly guid: string;
  readonly user?: string;
  readonly alias: string;
  readonly secretName: string;
  readonly packageName: string;
  readonly models: readonly string[];
  readonly duration: string;
  readonly userId: string;
  readonly maxBudget: number | null;
  readonly tpmLimit?: number;
  readonly rpmLimit?: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The key spec of a single-user lab, or of one user of a multi-user lab. */
export function keySpecFor(
  request: ProvisionRequest,
  config: Pick<Config, 'keySecretPrefix' | 'labUserDomain'>,
  user?: string,
): KeySpec {
  const alias = keyAlias(request.guid, user);
  const userId = user ? `${user}@${config.labUserDomain}` : request.userId;
  return {
    guid: request.guid,
    ...(user ? { user } : {}),
    alias,
    secretName: keySecretName(config.keySecretPrefix, alias),
    packageName: request.packageName,
    models: request.models,
    duration: request.duration,
    userId,
    maxBudget: request.maxBudget,
    ...(request.tpmLimit === undefined ? {} : { tpmLimit: request.tpmLimit }),
    ...(request.rpmLimit === undefined ? {} : { rpmLimit: request.rpmLimit }),
    metadata: {
      created_by: 'babylon',
      ...request.metadata,
      managed_by: MANAGED_BY,
      guid: request.guid,
      ...(user ? { user } : {}),
      package: request.packageName,
      models: request.models.join(','),
      duration: request.duration,
      owner: userId,
    },
  };
}
