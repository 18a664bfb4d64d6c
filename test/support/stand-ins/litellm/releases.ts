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
  /**
   * An over-budget key on an LLM route: 400 before PR #31300 (v1.93.0), 429 since, 422 from PR
   * #42097 (v1.104.0; its body is unverified, modelled as the 429's with the new status).
   */
  readonly overBudgetStatus: 400 | 429 | 422;
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
  /**
   * Where `litellm_version` is shown: on the public `/health/readiness`, or only on the
   * authenticated `/health/readiness/details` (PR #26912, about v1.84; seen public on 1.83.4).
   */
  readonly versionShownOn: 'readiness' | 'details-route';
  /** The proxy refuses to start on an unset, empty or `sk-1234` master key (PR #42019, v1.104.0). */
  readonly refusesWeakMasterKey: boolean;
  /**
   * With the database unreachable: `auth-error` (a virtual key's auth answers 401, a management
   * call 500, readiness 503), or `service-unavailable` (503 `no_db_connection` for both, readiness
   * 200 with `status: "disconnected"`), as `PrismaDBExceptionHandler` answers it from v1.104.0.
   */
  readonly databaseOutage: 'auth-error' | 'service-unavailable';
  /** A runtime write to a setting config.yaml declares is refused with 400 (PR #41779 and others, v1.103.0). */
  readonly configWins: boolean;
  /**
   * `general_settings.disable_custom_api_keys` in config.yaml is enforced, and a UI change reaches
   * every worker at once (PR #42437, v1.104.0); before, a UI change reached only the worker that
   * served it, the others for up to 10 minutes.
   */
  readonly customKeySwitchEverywhere: boolean;
  /** Models marked not `discoverable` are left out of `/v1/models` (PR #42825, v1.104.0). */
  readonly hidesUndiscoverableModels: boolean;
  /**
   * `key_alias` format check on generate and update: none; LiteLLM's fixed rule behind
   * `litellm.enable_key_alias_format_validation` (PR #23027); or, from v1.104.0, also an operator's
   * `litellm_settings.key_alias_pattern` (PR #42553), which replaces the fixed rule.
   */
  readonly aliasFormatCheck: 'none' | 'fixed' | 'configurable';
}

export type ReleaseName = '1.81' | '1.85' | '1.93' | '1.103' | '1.104' | '1.105';

const V1_104: ReleaseProfile = {
  name: '1.104',
  version: '1.104.2',
  updateUnknownKeyStatus: 404,
  aliasMatching: 'exact-unless-asked',
  expiresFilter: true,
  statusValues: ['active', 'expired', 'revoked', 'deleted'],
  servesDeletedKeys: true,
  overBudgetStatus: 422,
  customKeySwitch: true,
  customKeyPolicy: true,
  totalSpend: true,
  modelInfoIsLlmApiRoute: true,
  versionShownOn: 'details-route',
  refusesWeakMasterKey: true,
  databaseOutage: 'service-unavailable',
  configWins: true,
  customKeySwitchEverywhere: true,
  hidesUndiscoverableModels: true,
  aliasFormatCheck: 'configurable',
};

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
    versionShownOn: 'readiness',
    refusesWeakMasterKey: false,
    databaseOutage: 'auth-error',
    configWins: false,
    customKeySwitchEverywhere: false,
    hidesUndiscoverableModels: false,
    aliasFormatCheck: 'none',
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
    versionShownOn: 'details-route',
    refusesWeakMasterKey: false,
    databaseOutage: 'auth-error',
    configWins: false,
    customKeySwitchEverywhere: false,
    hidesUndiscoverableModels: false,
    aliasFormatCheck: 'fixed',
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
    versionShownOn: 'details-route',
    refusesWeakMasterKey: false,
    databaseOutage: 'auth-error',
    configWins: false,
    customKeySwitchEverywhere: false,
    hidesUndiscoverableModels: false,
    aliasFormatCheck: 'fixed',
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
    versionShownOn: 'details-route',
    refusesWeakMasterKey: false,
    databaseOutage: 'auth-error',
    configWins: true,
    customKeySwitchEverywhere: false,
    hidesUndiscoverableModels: false,
    aliasFormatCheck: 'fixed',
  },
  // The current stable.
  '1.104': V1_104,
  // The newest release candidate seen (tag unverified); no key-API change found beyond 1.104.
  '1.105': { ...V1_104, name: '1.105', version: '1.105.0-rc.1' },
};

export const NEWEST_RELEASE: ReleaseName = '1.105';
export const RELEASE_NAMES = Object.keys(RELEASES) as ReleaseName[];

/** The profile named by `LITELLM_STANDIN_RELEASE` (default the newest); an unknown name fails loudly. */
export function releaseFromEnv(value = process.env.LITELLM_STANDIN_RELEASE): ReleaseProfile {
  const name = value?.trim() || NEWEST_RELEASE;
  if (!Object.hasOwn(RELEASES, name)) {
    throw new Error(`LITELLM_STANDIN_RELEASE=${name}: known releases are ${RELEASE_NAMES.join(', ')}`);
  }
  return RELEASES[name as ReleaseName];
}
