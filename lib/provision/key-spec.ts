import type { Config } from '../config.ts';
import { keyAlias, MANAGED_BY } from '../key-identity.ts';
import type { ProvisionRequest } from './request.ts';

/** Everything needed to make (or find) one key of a lab. */
export interface KeySpec
  extends Pick<
    ProvisionRequest,
    | 'guid'
    | 'packageName'
    | 'models'
    | 'duration'
    | 'userId'
    | 'maxBudget'
    | 'tpmLimit'
    | 'rpmLimit'
    | 'metadata'
  > {
  readonly user?: string;
  readonly alias: string;
}

/** The key spec of a single-user lab, or of one user of a multi-user lab, made for `apiClient`. */
export function keySpecFor(
  request: ProvisionRequest,
  { config }: { readonly config: Pick<Config, 'labUserDomain'> },
  apiClient: string,
  user?: string,
): KeySpec {
  const alias = keyAlias(request.guid, user);
  const userId = user ? `${user}@${config.labUserDomain}` : request.userId;
  const { guid, packageName, models, duration, maxBudget, tpmLimit, rpmLimit } = request;
  return {
    guid,
    ...(user ? { user } : {}),
    alias,
    packageName,
    models,
    duration,
    userId,
    maxBudget,
    ...(tpmLimit === undefined ? {} : { tpmLimit }),
    ...(rpmLimit === undefined ? {} : { rpmLimit }),
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
      api_client: apiClient,
    },
  };
}
