import { parseDuration } from './duration.ts';
import { type Env, flag, integer, list, text } from './env.ts';
import { ConfigError } from './errors.ts';
import { BUILT_IN_PACKAGES, type PackageCatalogue, packageOf, parseCatalogue } from './packages.ts';
import { USER_BASE_PATTERN } from './schemas.ts';
import type { SettingName } from './settings.ts';
import { defaultTargetOf, type LiteLlmTarget, readTargets } from './target-config.ts';

export type { LiteLlmTarget } from './target-config.ts';

export interface Config {
  /** The LiteLLM proxies by name (LITELLM_TARGETS, or LITELLM_URL as the one target `default`). */
  readonly targets: ReadonlyMap<string, LiteLlmTarget>;
  /** The target named `default`: where a lab goes when its request names none. */
  readonly litellm: LiteLlmTarget;
  readonly packages: PackageCatalogue;
  readonly defaultPackage: string;
  readonly forceDbDelete: boolean;
  /** Certificate authorities (PEM file) trusted besides Node's for LiteLLM's database; '' for Node's only. */
  readonly databaseCaFile: string;
  readonly labEventSource: string;
  readonly eventBusName: string;
  /** The symmetric KMS key that seals key values in the ledger (KEY_VALUES_KMS_KEY_ID). */
  readonly keyValuesKmsKeyId: string;
  readonly labUserDomain: string;
  /** Names the users of a lab given as a count, unless the request names its own base. */
  readonly labUserBase: string;
  /** Domains a requested `user_id` (an e-mail address) may be in; lower case, LAB_USER_DOMAIN among them. */
  readonly userIdDomains: readonly string[];
  /** The proxy's admin user ids (its PROXY_ADMIN_ID, UI logins): never a lab key's owner. */
  readonly adminUserIds: readonly string[];
  readonly secretsCacheMs: number;
  readonly sweepGrace: string;
  readonly warnBefore: string;
  /** How long after a key's /key/generate was announced LiteLLM may still apply it: such keys are looked for again. */
  readonly reconcileGrace: string;
  /** The lab ledger's DynamoDB table. */
  readonly labsTable: string;
  /** LiteLLM calls the nightly reconciliation may spend. */
  readonly reconcileCalls: number;
  /** The cut-over from the Ansible role, while its window is set: see lib/role-made/. */
  readonly roleKeysTakeover: RoleKeysTakeover | undefined;
}

export interface RoleKeysTakeover {
  /** The window's end: no takeover from then on. */
  readonly until: Date;
  /** The clients that may take role-made labs over (and then own them). */
  readonly clients: readonly string[];
}

function roleKeysTakeover(env: Env): RoleKeysTakeover | undefined {
  const until = text(env, 'ROLE_KEYS_TAKEOVER_UNTIL');
  const clients = list(env, 'ROLE_KEYS_TAKEOVER_CLIENTS');
  if (!until) {
    if (clients.length > 0)
      throw new ConfigError(
        'ROLE_KEYS_TAKEOVER_CLIENTS is set but ROLE_KEYS_TAKEOVER_UNTIL is not: set both, or neither',
      );
    return undefined;
  }
  const end = new Date(until);
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(until) || Number.isNaN(end.getTime()))
    throw new ConfigError(
      `ROLE_KEYS_TAKEOVER_UNTIL must be an ISO-8601 date or instant such as 2027-03-31T00:00:00Z, not "${until}"`,
    );
  if (clients.length === 0)
    throw new ConfigError(
      'ROLE_KEYS_TAKEOVER_UNTIL is set: ROLE_KEYS_TAKEOVER_CLIENTS must name the API clients that may take role-made keys over',
    );
  return { until: end, clients };
}

function duration(env: Env, name: SettingName): string {
  const value = text(env, name);
  if (!parseDuration(value)) throw new ConfigError(`${name} must be a duration such as 24h or 7d`);
  return value;
}

function userBase(env: Env): string {
  const value = text(env, 'LAB_USER_BASE');
  if (!USER_BASE_PATTERN.test(value)) {
    throw new ConfigError(
      'LAB_USER_BASE must be 1-37 lowercase letters, digits or "-", not starting with "-"',
    );
  }
  return value;
}

const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function userIdDomains(env: Env): string[] {
  const domains = list(env, 'USER_ID_DOMAINS').map((d) => d.toLowerCase());
  const bad = domains.find((domain) => !DOMAIN.test(domain));
  if (bad !== undefined) throw new ConfigError(`USER_ID_DOMAINS has "${bad}", which is not a domain name`);
  const labDomain = text(env, 'LAB_USER_DOMAIN').toLowerCase();
  return [...new Set([...domains, labDomain])];
}

function catalogue(env: Env): PackageCatalogue {
  const raw = text(env, 'PACKAGES_JSON');
  if (!raw) return BUILT_IN_PACKAGES;
  try {
    return parseCatalogue(raw);
  } catch (error) {
    throw new ConfigError(`PACKAGES_JSON ${(error as Error).message}`);
  }
}

/** Read and check the environment once; throws a ConfigError naming the variable at fault. */
export function readConfig(env: Env): Config {
  const targets = readTargets(env);
  const packages = catalogue(env);
  const defaultPackage = text(env, 'DEFAULT_PACKAGE');
  if (!packageOf(packages, defaultPackage)) {
    const source = packages === BUILT_IN_PACKAGES ? 'the built-in catalogue' : 'PACKAGES_JSON';
    throw new ConfigError(`DEFAULT_PACKAGE "${defaultPackage}" is not defined in ${source}`);
  }
  return {
    targets,
    litellm: defaultTargetOf(targets),
    packages,
    defaultPackage,
    forceDbDelete: flag(env, 'FORCE_DB_DELETE'),
    databaseCaFile: text(env, 'DATABASE_CA_FILE'),
    labEventSource: text(env, 'LAB_EVENT_SOURCE'),
    eventBusName: text(env, 'EVENT_BUS_NAME'),
    keyValuesKmsKeyId: text(env, 'KEY_VALUES_KMS_KEY_ID'),
    labUserDomain: text(env, 'LAB_USER_DOMAIN'),
    labUserBase: userBase(env),
    userIdDomains: userIdDomains(env),
    adminUserIds: list(env, 'LITELLM_ADMIN_USER_IDS').map((id) => id.toLowerCase()),
    secretsCacheMs: integer(env, 'SECRETS_CACHE_MS', 0),
    sweepGrace: duration(env, 'SWEEP_GRACE'),
    warnBefore: duration(env, 'WARN_BEFORE'),
    reconcileGrace: duration(env, 'RECONCILE_GRACE'),
    labsTable: text(env, 'LABS_TABLE'),
    reconcileCalls: integer(env, 'RECONCILE_CALLS', 0),
    roleKeysTakeover: roleKeysTakeover(env),
  };
}

let cached: Config | undefined;

/** The process's configuration, read on first use (at cold start, from each handler module). */
export function getConfig(): Config {
  cached ??= readConfig(process.env);
  return cached;
}
