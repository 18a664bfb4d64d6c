import { Problem, UnavailableError } from '../errors.ts';
import type { ErrorAnswer, LiteLlmFault } from './error-catalogue.ts';

/** The longest piece of LiteLLM's own message a caller is shown. */
const MESSAGE_CAP = 300;

/** What the caller is told for each fault that reaches them; anything else is a plain 502. */
const EXPLANATIONS: Partial<
  Record<LiteLlmFault, { status: number; problem: string; title: string; explain: string }>
> = {
  'master-key-refused': {
    status: 503,
    problem: 'litellm-master-key-refused',
    title: 'LiteLLM refused the master key',
    explain:
      'LiteLLM does not accept the master key this service holds (rotated or mistyped in the master-key secret). ' +
      'Nothing was changed; the secret is read again on the next call, so a retry after fixing it succeeds',
  },
  'master-key-not-admin': {
    status: 502,
    problem: 'litellm-master-key-not-admin',
    title: 'The master key is not a proxy admin',
    explain:
      'LiteLLM answered 403: the key in the master-key secret is not the proxy’s master key or an admin key, ' +
      'so it may not manage other keys',
  },
  'custom-key-refused': {
    status: 502,
    problem: 'litellm-custom-keys-refused',
    title: 'LiteLLM refuses caller-chosen key values',
    explain:
      'LiteLLM refused the key value this service chose, because the proxy’s setting disable_custom_api_keys is on. ' +
      'This service stores each key’s value before creating it, so that every retry returns the same key: turn ' +
      'disable_custom_api_keys off and retry; nothing was created and the same value will be used',
  },
  'key-policy-refused': {
    status: 502,
    problem: 'litellm-key-policy-refused',
    title: 'LiteLLM’s key policy refused the key',
    explain:
      'LiteLLM refused the key (403): a custom_key_policy in general_settings (or an enterprise-only field) ' +
      'forbids it. This service sends a caller-chosen key value, a duration and metadata; allow them in the ' +
      'policy and retry: nothing was created',
  },
  'alias-format-refused': {
    status: 502,
    problem: 'litellm-alias-format-refused',
    title: 'LiteLLM’s key-alias rule refused the alias',
    explain:
      'LiteLLM refused the key’s alias by its key_alias format rule (enable_key_alias_format_validation, or ' +
      'from v1.104 litellm_settings.key_alias_pattern), quoted below. This service names keys virtkey-<guid> and ' +
      'virtkey-<guid>-<user>: allow such aliases in the proxy’s rule. Nothing was created; a retry will ' +
      'fail the same way until the rule changes',
  },
  'over-configured-limit': {
    status: 502,
    problem: 'litellm-limit-refused',
    title: 'LiteLLM’s configured limits refused the key',
    explain:
      'LiteLLM refused the key as over a limit of upperbound_key_generate_params in its configuration; ' +
      'raise the limit or ask for less',
  },
};

/**
 * LiteLLM answered a management call with a 4xx (or an unusable body): the fault it means, its
 * status, `error.type` and message (secrets removed), and what the caller is told.
 */
export class LiteLlmResponseError extends Problem {
  override name = 'LiteLlmResponseError';
  constructor(
    readonly answer: ErrorAnswer,
    readonly fault: LiteLlmFault,
    /** Replaces the fault's usual explanation where the proxy's release changes what works. */
    explain?: string,
  ) {
    const listed = EXPLANATIONS[fault];
    const known = listed && explain ? { ...listed, explain } : listed;
    const said = `LiteLLM ${answer.endpoint} answered ${answer.status}: ${answer.message.slice(0, MESSAGE_CAP)}`;
    super(
      known?.status ?? 502,
      known?.problem ?? 'litellm-error',
      known?.title ?? 'LiteLLM error',
      known ? `${known.explain}. (${said})` : said,
    );
  }
  get endpoint(): string {
    return this.answer.endpoint;
  }
  get upstreamStatus(): number {
    return this.answer.status;
  }
  get errorType(): string | undefined {
    return this.answer.type;
  }
  get upstreamMessage(): string {
    return this.answer.message;
  }
  /** A 503 (the master key may be fixed by a rotation we have not read yet) carries when to come back. */
  override get retryAfterSeconds(): number | undefined {
    return this.status === 503 ? 30 : undefined;
  }
}

/** LiteLLM unreachable, timing out or answering 5xx after every retry. */
export class LiteLlmUnavailableError extends UnavailableError {
  override name = 'LiteLlmUnavailableError';
  constructor(
    readonly endpoint: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`LiteLLM ${endpoint} is unavailable: ${reason}`, 30, options);
  }
}

/** An error answer of the given fault (duplicate alias, unknown key, ...). */
export function isFault(error: unknown, fault: LiteLlmFault): error is LiteLlmResponseError {
  return error instanceof LiteLlmResponseError && error.fault === fault;
}

/** A body LiteLLM answered 2xx with, that lacks what every supported release sends. */
export function unexpectedBody(endpoint: string, what: string): LiteLlmResponseError {
  return new LiteLlmResponseError(
    { endpoint, status: 200, envelope: 'none', message: `answered with an unexpected body: ${what}` },
    'unexpected',
  );
}

/** The proxy runs a release older than the supported range; provisioning there is refused. */
export function unsupportedRelease(version: string, oldest: string): Problem {
  return new Problem(
    502,
    'litellm-release-unsupported',
    'LiteLLM release not supported',
    `LiteLLM ${version} is older than ${oldest}, the oldest release this service supports; ` +
      'keys are not provisioned there (destroy, status and extend still work). Upgrade the proxy',
  );
}

/**
 * LiteLLM refused an alias as taken (or in words this service does not know) twice, and no key
 * holds it: not a duplicate this service can resolve. Passed on with LiteLLM's words.
 */
export function aliasRefused(alias: string, target: string, refusal: LiteLlmResponseError): Problem {
  return new Problem(
    502,
    'litellm-alias-refused',
    'LiteLLM refused the key alias',
    `LiteLLM target ${target} refused key alias ${alias} twice, and no key holds it now, so the refusal is not ` +
      `one this service can resolve; nothing was created. (LiteLLM ${refusal.endpoint} answered ${refusal.upstreamStatus}: ` +
      `${refusal.upstreamMessage.slice(0, MESSAGE_CAP)})`,
  );
}
