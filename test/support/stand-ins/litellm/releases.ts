/**
 * The LiteLLM releases the stand-in can behave as. Each behaviour names the change it models
 * (BerriAI/litellm pull request, first release with it); the profile picks the behaviour a real
 * proxy of that release shows. Only what differs across the supported range is listed.
 */
export interface ReleaseProfile {
  readonly name: ReleaseName;
  /** What `/health/readiness` reports as `litellm_version`. */
  readonly version: string;
  /**
   * `/key/update` of an unknown key: 401 "user key does not exist in db" from the Prisma helper,
   * until PR #24063 (v1.82.6) made it 404 "Key not found".
   */
  readonly updateUnknownKeyStatus: 401 | 404;
  /**
   * `/key/list?key_alias=` and `user_id=` for a proxy admin (the master key is one): exact, or a
   * case-insensitive substring match (PR #24746, v1.83.3), exact again by default with an opt-in
   * `substring_matching=true` (PR #30593, v1.90.0). Before PR #30593 the parameter is unknown and ignored.
   */
  readonly aliasMatching: 'exact' | 'substring' | 'exact-unless-asked';
  /** `/key/list?expires=expired|active` (PR #32953, v1.93.0); earlier releases ignore the parameter. */
  readonly expiresFilter: boolean;
  /**
   * `/key/list?status=`: only `deleted` (PR #19260), or `active|expired|revoked|deleted` (PR #41311,
   * v1.103.0).
   */
  readonly statusValues: readonly string[];
  /** `/key/info` answers 200 with `info.status: "deleted"` for a deleted key (PR #41311, e2e PR #41551, v1.103.0). */
  readonly servesDeletedKeys: boolean;
  /** An over-budget key on an LLM route: 400 before PR #31300 (v1.93.0), 429 since. */
  readonly overBudgetStatus: 400 | 429;
  /** The UI setting `disable_custom_api_keys` exists (PR #23812, v1.82.6). */
  readonly customKeySwitch: boolean;
  /** `general_settings.custom_key_policy` hook on generate and update (PR #40921, v1.103.0). */
  readonly customKeyPolicy: boolean;
  /** Keys carry a lifetime `total_spend` (PR #41403, v1.103.0). */
  readonly totalSpend: boolean;
  /**
   * `/model/info` and `/v1/model/info` are in `llm_api_routes` (PR #35473, merged 2026-08-01, after
   * v1.93.0); before, a key bound to `llm_api_routes` gets the route 403 there.
   */
  readonly modelInfoIsLlmApiRoute: boolean;
}

export type ReleaseName = '1.81' | '1.85' | '1.93' | '1.103';

export const RELEASES: Readonly<Record<ReleaseName, ReleaseProfile>> = {
  '1.81': {
    name: '1.81',
    version: '1.81.0',
    updateUnknownKeyStatus: 401,
    aliasMatching: 'exact',
    expiresFilter: false,
    statusValues: ['deleted'],
    servesDeletedKeys: false,
    overBudgetStatus: 400,
    customKeySwitch: false,
    customKeyPolicy: false,
    totalSpend: false,
    modelInfoIsLlmApiRoute: false,
  },
  '1.85': {
    name: '1.85',
    version: '1.85.0',
    updateUnknownKeyStatus: 404,
    aliasMatching: 'substring',
    expiresFilter: false,
    statusValues: ['deleted'],
    servesDeletedKeys: false,
    overBudgetStatus: 400,
    customKeySwitch: true,
    customKeyPolicy: false,
    totalSpend: false,
    modelInfoIsLlmApiRoute: false,
  },
  '1.93': {
    name: '1.93',
    version: '1.93.0',
    updateUnknownKeyStatus: 404,
    aliasMatching: 'exact-unless-asked',
    expiresFilter: true,
    statusValues: ['deleted'],
    servesDeletedKeys: false,
    overBudgetStatus: 429,
    customKeySwitch: true,
    customKeyPolicy: false,
    totalSpend: false,
    modelInfoIsLlmApiRoute: false,
  },
  '1.103': {
    name: '1.103',
    version: '1.103.0',
    updateUnknownKeyStatus: 404,
    aliasMatching: 'exact-unless-asked',
    expiresFilter: true,
    statusValues: ['active', 'expired', 'revoked', 'deleted'],
    servesDeletedKeys: true,
    overBudgetStatus: 429,
    customKeySwitch: true,
    customKeyPolicy: true,
    totalSpend: true,
    modelInfoIsLlmApiRoute: true,
  },
};

export const NEWEST_RELEASE: ReleaseName = '1.103';
export const RELEASE_NAMES = Object.keys(RELEASES) as ReleaseName[];

/** The profile named by `LITELLM_STANDIN_RELEASE` (default the newest); an unknown name fails loudly. */
export function releaseFromEnv(value = process.env.LITELLM_STANDIN_RELEASE): ReleaseProfile {
  const name = value?.trim() || NEWEST_RELEASE;
  if (!Object.hasOwn(RELEASES, name)) {
    throw new Error(`LITELLM_STANDIN_RELEASE=${name}: known releases are ${RELEASE_NAMES.join(', ')}`);
  }
  return RELEASES[name as ReleaseName];
}
