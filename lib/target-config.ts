import * as z from 'zod/mini';
import { type Env, flag, integer, text } from './env.ts';
import { BadRequestError, ConfigError } from './errors.ts';
import type { SettingName } from './settings.ts';

/** The target a lab goes to when its request names none, and the one LITELLM_URL configures. */
export const DEFAULT_TARGET = 'default';

/** How to reach one LiteLLM proxy; its client is built from this, never from globals. */
export interface LiteLlmTarget {
  /** The name requests, the ledger and events use. */
  readonly name: string;
  readonly url: string;
  /** The URL lab users are given. */
  readonly publicUrl: string;
  readonly masterKeySecretId: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly verifyTls: boolean;
  readonly maxConnections: number;
}

/** Target names appear in URLs, IAM-free logs and metrics: short and plain. */
export const TARGET_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

const required = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : what;

const httpUrl = z.string({ error: required('must be an http(s) URL') }).check(
  z.refine(isHttpUrl, { error: 'must be an http(s) URL' }),
  z.overwrite((value) => value.trim().replace(/\/+$/, '')),
);

const targetSchema = z.strictObject({
  url: httpUrl,
  public_url: z.optional(httpUrl),
  master_key_secret_id: z
    .string({ error: required('must be a secret name or ARN') })
    .check(z.trim(), z.minLength(1, { error: 'must be a secret name or ARN' })),
  verify_tls: z.optional(z.boolean({ error: 'must be true or false' })),
  max_connections: z.optional(
    z.int({ error: 'must be an integer >= 1' }).check(z.gte(1, { error: 'must be an integer >= 1' })),
  ),
});

/** Settings every target shares unless its entry says otherwise. */
function shared(env: Env) {
  return {
    timeoutMs: integer(env, 'LITELLM_TIMEOUT_MS', 1),
    retries: integer(env, 'LITELLM_RETRIES', 0),
    verifyTls: flag(env, 'LITELLM_VERIFY_TLS'),
    maxConnections: integer(env, 'LITELLM_MAX_CONNECTIONS', 1),
  };
}

function httpUrlVariable(env: Env, name: SettingName, fallback?: string): string {
  const value = text(env, name, fallback);
  if (!isHttpUrl(value)) throw new ConfigError(`${name} must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** LITELLM_URL and LITELLM_MASTER_KEY_SECRET_ID: the one target `default`. */
function singleTarget(env: Env): LiteLlmTarget {
  const url = httpUrlVariable(env, 'LITELLM_URL');
  return {
    name: DEFAULT_TARGET,
    url,
    publicUrl: httpUrlVariable(env, 'LITELLM_PUBLIC_URL', url),
    masterKeySecretId: text(env, 'LITELLM_MASTER_KEY_SECRET_ID'),
    ...shared(env),
  };
}

function parsedJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`LITELLM_TARGETS is not JSON: ${(error as Error).message}`);
  }
}

/** LITELLM_TARGETS: `{"<name>": {url, public_url?, master_key_secret_id, verify_tls?, max_connections?}}`, one named `default`. */
function namedTargets(env: Env, raw: string): Map<string, LiteLlmTarget> {
  const parsed = parsedJson(raw);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError('LITELLM_TARGETS must be a JSON object of targets by name');
  const defaults = shared(env);
  const targets = new Map<string, LiteLlmTarget>();
  for (const [name, entry] of Object.entries(parsed)) {
    if (!TARGET_NAME.test(name))
      throw new ConfigError(
        `LITELLM_TARGETS: target "${name}" must be named with 1-32 lowercase letters, digits or "-"`,
      );
    const result = targetSchema.safeParse(entry);
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue?.path.join('.') || 'its entry';
      const message =
        issue?.code === 'unrecognized_keys'
          ? `has unknown field(s) ${issue.keys.join(', ')}`
          : `field ${field} ${issue?.message ?? 'is invalid'}`;
      throw new ConfigError(`LITELLM_TARGETS: target "${name}" ${message}`);
    }
    const target = result.data;
    targets.set(name, {
      name,
      url: target.url,
      publicUrl: target.public_url ?? target.url,
      masterKeySecretId: target.master_key_secret_id,
      timeoutMs: defaults.timeoutMs,
      retries: defaults.retries,
      verifyTls: target.verify_tls ?? defaults.verifyTls,
      maxConnections: target.max_connections ?? defaults.maxConnections,
    });
  }
  defaultTargetOf(targets);
  return targets;
}

/** The target named `default`, which every configuration has. */
export function defaultTargetOf(targets: ReadonlyMap<string, LiteLlmTarget>): LiteLlmTarget {
  const target = targets.get(DEFAULT_TARGET);
  if (!target)
    throw new ConfigError(
      `LITELLM_TARGETS must name one target "${DEFAULT_TARGET}" (it has ${[...targets.keys()].join(', ') || 'none'})`,
    );
  return target;
}

/** The deployment's LiteLLM proxies by name; `default` is always among them. */
export function readTargets(env: Env): ReadonlyMap<string, LiteLlmTarget> {
  const raw = text(env, 'LITELLM_TARGETS');
  if (!raw) return new Map([[DEFAULT_TARGET, singleTarget(env)]]);
  return namedTargets(env, raw);
}

/**
 * The target a request names; an unknown name is a 400 listing the known ones (only those in
 * `shown`, a client's `targets` limit, when it has one: the others are not its business).
 */
export function requestedTarget(
  targets: ReadonlyMap<string, LiteLlmTarget>,
  name: string,
  shown?: readonly string[],
): LiteLlmTarget {
  const target = targets.get(name);
  if (!target) {
    const known = [...targets.keys()].filter((known) => !shown || shown.includes(known));
    throw new BadRequestError(`unknown LiteLLM target ${name}`, [
      { field: 'target', message: known.length > 0 ? `must be one of ${known.join(', ')}` : 'is not known' },
    ]);
  }
  return target;
}
