/**
 * Every environment variable the functions read, declared once: its default (the readers of
 * lib/env.ts take it from here), the stage parameter that sets it, the functions that read it and
 * what it means. docs/configuration.md's table is generated from this (`npm run docs`); tests hold
 * the code's reads, serverless.yml's parameters and the packaged functions' environments to it.
 * No imports: every function's bundle carries it, and the log reads it before anything else.
 */

/** The functions that read the service's configuration (lib/config.ts). */
export const SERVICE_FUNCTIONS = [
  'provision',
  'destroy',
  'status',
  'extend',
  'move',
  'sweep',
  'health',
] as const;

/**
 * Which functions read a setting: `all` of them (the log, the metrics), or those named. A setting
 * every service function reads is in serverless.yml's provider.environment, every function's (so
 * the authorizer, the lab-event functions and the watch hold them too, unread); any other is in the
 * environment of the functions that read it, and of no other.
 */
export type Readers = 'all' | readonly string[];

export interface Setting {
  /** The value an unset or blank variable takes; none when it is required, or derived from another. */
  readonly default?: string;
  /** What an unset variable means when that is not a plain value ("required", "`LITELLM_URL`"). */
  readonly unset?: string;
  /** The stage parameter (serverless.yml `params`) the stack sets it from. */
  readonly parameter?: string;
  /** That parameter's default, where the stack's differs from the variable's own. */
  readonly stackDefault?: string;
  /** What the stack sets, where no parameter does: a literal, or (prose) what it refers to. */
  readonly stackValue?: string;
  /** Who reads it besides this code (Node itself, say): lib/ and functions/ need not name it. */
  readonly readOutside?: string;
  readonly readers: Readers;
  /** One paragraph of Markdown (links relative to docs/). */
  readonly meaning: string;
}

const declared = {
  LITELLM_URL: {
    unset: 'required unless `LITELLM_TARGETS`',
    parameter: 'litellmUrl',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'LiteLLM proxy base URL (a trailing `/` and a path prefix are fine); with `LITELLM_MASTER_KEY_SECRET_ID` and `LITELLM_PUBLIC_URL` it is the one target `default`',
  },
  LITELLM_PUBLIC_URL: {
    unset: '`LITELLM_URL`',
    parameter: 'litellmPublicUrl',
    readers: SERVICE_FUNCTIONS,
    meaning: 'the URL lab users are given',
  },
  LITELLM_MASTER_KEY_SECRET_ID: {
    unset: 'required unless `LITELLM_TARGETS`',
    parameter: 'masterKeySecretId',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'secret holding the master key: `sk-...`, or JSON `{"master_key": "sk-...", "database_url": "postgres://..."}`',
  },
  LITELLM_TARGETS: {
    default: '',
    parameter: 'litellmTargets',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'several LiteLLM proxies, replacing the three single-target variables: JSON `{"<name>": {"url", "public_url"?, "master_key_secret_id", "verify_tls"?, "max_connections"?}}` with exactly one target named `default` (see [below](#several-litellm-proxies))',
  },
  LABS_TABLE: {
    unset: 'required',
    parameter: 'labsTable',
    readers: [...SERVICE_FUNCTIONS, 'inFlightWatch'],
    meaning:
      'the lab ledger’s DynamoDB table: the one the stack creates, or a table restored from it once stage parameter `restoredLabsTable` names one (see [Operating](operating.md))',
  },
  API_TOKENS_SECRET_ID: {
    unset: 'required',
    parameter: 'apiTokensSecretId',
    readers: ['authorizer'],
    meaning:
      'secret holding API client tokens, JSON `{"client-name": "token" or {"token", "scopes", "limits"?}}` (see [the security model](security.md))',
  },
  API_TOKENS_CACHE_MS: {
    default: '60000',
    parameter: 'apiTokensCacheMs',
    readers: ['authorizer'],
    meaning:
      'how long the authorizer keeps the API tokens before reading them again: a token removed from the secret stops working within this, plus `authorizerCacheSeconds`',
  },
  DEFAULT_PACKAGE: {
    default: 'ai-developer',
    parameter: 'defaultPackage',
    readers: SERVICE_FUNCTIONS,
    meaning: 'package used when a request names none; it must be in the catalogue',
  },
  PACKAGES_JSON: {
    default: '',
    unset: 'the built-in catalogue',
    parameter: 'packagesJson',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'the package catalogue, replacing the built-in one ([the packages](api.md)): `{"<name>": {"models": [...], "duration": "7d", "max_budget"?, "tpm_limit"?, "rpm_limit"?}}`. Given as a stage parameter it is one line of JSON (`--param "packagesJson=$(jq -c . packages.json)"`, or a YAML string in a stage block); a function’s whole environment must stay under Lambda’s 4 KB',
  },
  LITELLM_TIMEOUT_MS: {
    default: '30000',
    parameter: 'litellmTimeoutMs',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'longest LiteLLM request attempt; each attempt also gets at most an equal share of the time left before the Lambda deadline, so every retry fits',
  },
  LITELLM_RETRIES: {
    default: '3',
    parameter: 'litellmRetries',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'retries on resets, timeouts, 429 and 5xx, with jittered backoff, never past the Lambda deadline; a failure reports the attempts actually made',
  },
  LITELLM_VERIFY_TLS: {
    default: 'true',
    parameter: 'litellmVerifyTls',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'whether the LiteLLM proxy’s TLS certificate must be one Node trusts; `false` accepts any certificate, for a proxy on a private network with its own CA (a target’s `verify_tls` overrides it)',
  },
  LITELLM_MAX_CONNECTIONS: {
    default: '10',
    parameter: 'litellmMaxConnections',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'connections to each LiteLLM proxy per container: the per-container concurrency cap (a target’s `max_connections` overrides it)',
  },
  LAB_USER_DOMAIN: {
    default: 'lab.opentlc.com',
    parameter: 'labUserDomain',
    readers: SERVICE_FUNCTIONS,
    meaning: 'domain of default key owners (`<guid>@…`, and `<user>@…` in multi-user labs)',
  },
  LAB_USER_BASE: {
    default: 'user',
    parameter: 'labUserBase',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'base name of users given as a count, unless the request names `user_base`: 1-37 lowercase letters, digits or `-`, not starting with `-`',
  },
  USER_ID_DOMAINS: {
    default: 'lab.opentlc.com,opentlc.com,redhat.com',
    parameter: 'userIdDomains',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'domains a requested `user_id` may be in, comma-separated (`LAB_USER_DOMAIN` is always among them)',
  },
  LITELLM_ADMIN_USER_IDS: {
    default: '',
    parameter: 'litellmAdminUserIds',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'the proxy’s admin user ids (its `PROXY_ADMIN_ID`, UI logins), comma-separated, refused as owners besides LiteLLM’s built-in ones',
  },
  KEY_VALUES_KMS_KEY_ID: {
    unset: 'required',
    parameter: 'keyValuesKmsKeyArn',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'ARN of the symmetric KMS key that seals key values in the ledger: each value is encrypted with the context `{target, guid, alias, key_id}` of its key and opens under that context only; the stack creates the key unless its stage parameter names one; provision and move seal and open values, destroy, status and extend only open them (the sweep is given it but may not use it)',
  },
  DATABASE_CA_FILE: {
    default: '',
    parameter: 'databaseCaFile',
    stackDefault: '/var/runtime/ca-cert.pem',
    readers: ['destroy'],
    meaning:
      'PEM bundle trusted besides Node’s for LiteLLM’s database, for direct deletion (on Lambda, `/var/runtime/ca-cert.pem` holds the Amazon RDS CAs, hence the stack’s default)',
  },
  FORCE_DB_DELETE: {
    default: 'false',
    parameter: 'forceDbDelete',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'delete a key the API leaves behind from LiteLLM’s database (needs `database_url` in the master-key secret); requests may opt out',
  },
  ROLE_KEYS_TAKEOVER_UNTIL: {
    default: '',
    parameter: 'roleKeysTakeoverUntil',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'the end (ISO-8601) of the cut-over window from the Ansible role: until then, provision, destroy, extend and status take over the keys the role made for a guid the ledger has never seen, and the sweep may be asked to delete the expired ones (see [migration.md](migration.md)); empty: off',
  },
  ROLE_KEYS_TAKEOVER_CLIENTS: {
    default: '',
    parameter: 'roleKeysTakeoverClients',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'the API clients (comma-separated; a lab event’s is `event:<source>`) that may take over role-made keys while the window is open (with the `destroy` scope), and so own those labs; required when `ROLE_KEYS_TAKEOVER_UNTIL` is set',
  },
  LAB_EVENT_SOURCE: {
    default: 'rhdp.lab',
    parameter: 'labEventSource',
    readers: [...SERVICE_FUNCTIONS, 'labEventQueue'],
    meaning:
      'EventBridge source of lab lifecycle events; the lab-event queue runs no queued message of another source',
  },
  EVENT_BUS_NAME: {
    default: 'default',
    parameter: 'eventBusName',
    readers: [...SERVICE_FUNCTIONS, 'labEventQueue'],
    meaning: 'bus for result events',
  },
  SECRETS_CACHE_MS: {
    default: '300000',
    parameter: 'secretsCacheMs',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'how long a container keeps a master key before reading it again (see the master-key rotation in [Operating](operating.md))',
  },
  SWEEP_GRACE: {
    default: '0h',
    parameter: 'sweepGrace',
    readers: SERVICE_FUNCTIONS,
    meaning: 'how long past expiry the sweep leaves a key',
  },
  WARN_BEFORE: {
    default: '24h',
    parameter: 'warnBefore',
    readers: SERVICE_FUNCTIONS,
    meaning: 'how long before expiry the sweep warns',
  },
  RECONCILE_CALLS: {
    default: '50',
    parameter: 'reconcileCalls',
    readers: SERVICE_FUNCTIONS,
    meaning: 'LiteLLM calls the nightly reconciliation of ledger and proxy may spend',
  },
  RECONCILE_GRACE: {
    default: '1h',
    parameter: 'reconcileGrace',
    readers: SERVICE_FUNCTIONS,
    meaning:
      'how long after a key’s `/key/generate` was announced a late apply of it is still looked for, and deleted (see [Operating](operating.md)): above the longest delay a LiteLLM write may take to land',
  },
  LAB_EVENT_QUEUE_URL: {
    unset: 'required (lab-event functions)',
    stackValue: 'the URL of `LabEventQueue`',
    readers: ['labEventIntake', 'labEventQueue'],
    meaning: 'the FIFO queue lab events wait in until they apply, each lab’s in order',
  },
  LAB_EVENT_PARKED_QUEUE_URL: {
    unset: 'required (lab-event queue)',
    stackValue: 'the URL of `LabEventParkedQueue`',
    readers: ['labEventQueue'],
    meaning:
      'the FIFO queue a lab event is parked in, in its lab’s group, once its retries are spent; an operator redrives it from there',
  },
  LAB_EVENT_MAX_RECEIVES: {
    unset: 'required (lab-event queue)',
    stackValue: 'serverless.yml’s `custom.labEventMaxReceives`',
    readers: ['labEventQueue'],
    meaning:
      'the receive count at which a lab event that fails again is parked (one held back behind its lab’s earlier event is never parked); a number whose retries span less than 24 hours stops the function at start. The queue’s own redrive is a backstop at a higher count',
  },
  PROVISION_FUNCTION_NAME: {
    unset: 'required (lab-event queue)',
    stackValue: 'the deployed name of `provision`',
    readers: ['labEventQueue'],
    meaning: 'the function a `Lab Provisioned` event is applied by',
  },
  DESTROY_FUNCTION_NAME: {
    unset: 'required (lab-event queue)',
    stackValue: 'the deployed name of `destroy`',
    readers: ['labEventQueue'],
    meaning: 'the function a `Lab Destroyed` event is applied by',
  },
  EXTEND_FUNCTION_NAME: {
    unset: 'required (lab-event queue)',
    stackValue: 'the deployed name of `extend`',
    readers: ['labEventQueue'],
    meaning: 'the function a `Lab Extended` event is applied by',
  },
  LOG_LEVEL: {
    default: 'info',
    parameter: 'logLevel',
    readers: 'all',
    meaning: 'the lowest level written: `debug`, `info`, `warn` or `error`',
  },
  POWERTOOLS_METRICS_NAMESPACE: {
    default: 'LiteLLMVirtualKeys',
    stackValue: '`LiteLLMVirtualKeys`',
    readers: 'all',
    meaning: 'CloudWatch namespace of the metrics (the alarms and the dashboard expect this one)',
  },
  POWERTOOLS_TRACE_ENABLED: {
    default: 'false',
    parameter: 'tracing',
    readers: 'all',
    meaning:
      'X-Ray tracing with Powertools’ Tracer: `true` traces each invocation and its AWS calls, never an answer (answers carry key values); otherwise the tracer is not even loaded',
  },
  AWS_XRAY_CONTEXT_MISSING: {
    default: 'IGNORE_ERROR',
    readOutside: 'the X-Ray SDK',
    readers: 'all',
    meaning:
      'what the X-Ray SDK does with a call outside any trace segment (a script, `invoke local`); `lib/tracing.ts` sets `IGNORE_ERROR` when tracing starts, unless it is set',
  },
  NODE_OPTIONS: {
    unset: 'Node’s defaults',
    stackValue: '`--enable-source-maps`',
    readOutside: 'Node',
    readers: 'all',
    meaning:
      'Node’s options: stack traces name the lines of the TypeScript sources, through each bundle’s source map',
  },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof declared;

export const SETTINGS: Readonly<Record<SettingName, Setting>> = declared;
