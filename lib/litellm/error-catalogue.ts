/**
 * Every LiteLLM error answer this service tells apart, with the release and change it comes from.
 * A rule is decided by the endpoint, the HTTP status and the body's `error.type`, `error.param`
 * or envelope; the English message is read only as a fallback, where those fields say too little
 * (LiteLLM wraps most HTTPExceptions of its key endpoints with a generic type).
 */

/** What an error answer means to this service. */
export type LiteLlmFault =
  | 'master-key-refused'
  | 'master-key-not-admin'
  | 'key-not-found'
  | 'update-refused-unauthorized'
  | 'no-keys-found'
  | 'route-not-found'
  | 'duplicate-alias'
  | 'alias-format-refused'
  | 'custom-key-refused'
  | 'key-policy-refused'
  | 'over-configured-limit'
  | 'list-filter-refused'
  | 'request-rejected'
  | 'unexpected';

/** The parts of an error answer that classification reads. */
export interface ErrorAnswer {
  readonly endpoint: string;
  readonly status: number;
  /** `error` for LiteLLM's ProxyException body, `detail` for FastAPI's own, `none` for anything else. */
  readonly envelope: 'error' | 'detail' | 'none';
  readonly type?: string;
  readonly param?: string;
  readonly message: string;
}

interface Rule {
  readonly fault: LiteLlmFault;
  /** Endpoints (`POST /key/generate`); every management endpoint when absent. */
  readonly endpoints?: readonly string[];
  readonly status: number;
  readonly type?: string;
  readonly param?: string;
  readonly envelope?: ErrorAnswer['envelope'];
  /** Read only when `type`/`param`/`envelope` do not decide. */
  readonly fallback?: RegExp;
  /**
   * Must also match the message: two answers LiteLLM gives the same status, type and param are
   * told apart by their text alone (a refused alias format and a duplicate alias).
   */
  readonly says?: RegExp;
  /** The releases that answer so, and the change that made them. */
  readonly since: string;
}

const GENERATE = 'POST /key/generate';
const UPDATE = 'POST /key/update';
const INFO = 'GET /key/info';
const LIST = 'GET /key/list';
const DELETE = 'POST /key/delete';

/** First match wins. */
export const ERROR_CATALOGUE: readonly Rule[] = [
  {
    fault: 'master-key-refused',
    status: 401,
    type: 'token_not_found_in_db',
    fallback: /invalid proxy server token|not found in db|unable to find token/i,
    since: 'every supported release: user_api_key_auth rejects an unknown sk- token before any route',
  },
  {
    fault: 'update-refused-unauthorized',
    endpoints: [UPDATE],
    status: 401,
    type: 'auth_error',
    since:
      'every release: v1.81 to v1.82.5 answer an unknown key so (PR #24063 made it 404), and a master key ' +
      'without the sk- prefix gets the same 401 auth_error: only /key/info can tell which',
  },
  {
    fault: 'master-key-refused',
    status: 401,
    since: 'every release: any other 401 on a management route is about our credentials',
  },
  {
    fault: 'key-not-found',
    endpoints: [INFO],
    status: 404,
    envelope: 'error',
    type: 'not_found_error',
    fallback: /not found/i,
    since: 'v1.55 on: "Key not found in database" (PR #6653; 401 before)',
  },
  {
    fault: 'key-not-found',
    endpoints: [UPDATE],
    status: 404,
    envelope: 'error',
    since: 'v1.82.6 on: "Key not found" (PR #24063)',
  },
  {
    fault: 'no-keys-found',
    endpoints: [DELETE],
    status: 404,
    envelope: 'error',
    since: 'v1.69 on: nothing matched the keys or aliases (PR #10605)',
  },
  {
    fault: 'route-not-found',
    status: 404,
    envelope: 'detail',
    since: "FastAPI's own 404: the URL does not lead to LiteLLM's key API",
  },
  {
    fault: 'alias-format-refused',
    endpoints: [GENERATE, UPDATE],
    status: 400,
    param: 'key_alias',
    says: /invalid key_alias format|must match/i,
    since:
      '~v1.82 on: enable_key_alias_format_validation (PR #23027); from v1.104 a configurable pattern ' +
      '(PR #42553). The same status, type and param as a duplicate alias: only the message differs',
  },
  {
    fault: 'duplicate-alias',
    endpoints: [GENERATE, UPDATE],
    status: 400,
    param: 'key_alias',
    fallback: /alias.*already exists/i,
    since:
      'v1.53.1 on: unique aliases (PR #6944). Any other key_alias refusal is read so too, and confirmed ' +
      'by finding the holder before anything is concluded',
  },
  {
    fault: 'custom-key-refused',
    endpoints: [GENERATE],
    status: 403,
    fallback: /custom api key values are disabled|must be auto-generated/i,
    since: 'v1.82.6 on: the UI setting disable_custom_api_keys (PR #23812)',
  },
  {
    fault: 'key-policy-refused',
    endpoints: [GENERATE, UPDATE],
    status: 403,
    since: 'v1.103 on: general_settings.custom_key_policy (PR #40921); premium-only fields before',
  },
  {
    fault: 'master-key-not-admin',
    endpoints: [INFO, LIST, DELETE, UPDATE],
    status: 403,
    since:
      'every release: the caller may not see or change another user’s key (can_modify_verification_token)',
  },
  {
    fault: 'over-configured-limit',
    endpoints: [GENERATE, UPDATE],
    status: 400,
    fallback: /over max limit/i,
    since: 'every release: upperbound_key_generate_params',
  },
  {
    fault: 'list-filter-refused',
    endpoints: [LIST],
    status: 400,
    since: 'every release: a filter value the proxy does not know (status, expires, sort)',
  },
  {
    fault: 'request-rejected',
    status: 422,
    since: "every release: FastAPI's request validation",
  },
];

/** Types and params LiteLLM puts on wrapped HTTPExceptions whatever they mean: they decide nothing. */
const SAYS_NOTHING = new Set(['internal_server_error', 'auth_error', 'None']);

function unsaid(value: string | undefined): boolean {
  return value === undefined || SAYS_NOTHING.has(value);
}

function matches(rule: Rule, answer: ErrorAnswer): boolean {
  if (rule.status !== answer.status) return false;
  if (rule.says && !rule.says.test(answer.message)) return false;
  if (rule.endpoints && !rule.endpoints.includes(answer.endpoint)) return false;
  if (rule.envelope !== undefined && rule.envelope !== answer.envelope) return false;
  const typed = rule.type !== undefined || rule.param !== undefined;
  const equal =
    (rule.type === undefined || rule.type === answer.type) &&
    (rule.param === undefined || rule.param === answer.param);
  if (typed && equal) return true;
  if (!rule.fallback) return !typed;
  // The message is read only when the structured fields are absent or generic, never against them.
  const silent =
    (rule.type === undefined || unsaid(answer.type)) && (rule.param === undefined || unsaid(answer.param));
  return silent && rule.fallback.test(answer.message);
}

/** The meaning of an error answer to a management call made with the master key. */
export function classify(answer: ErrorAnswer): { fault: LiteLlmFault; since?: string } {
  const rule = ERROR_CATALOGUE.find((candidate) => matches(candidate, answer));
  return rule ? { fault: rule.fault, since: rule.since } : { fault: 'unexpected' };
}

/** The parts of any LiteLLM error body: ProxyException (`error`), FastAPI (`detail`) or plain text. */
export function readErrorBody(endpoint: string, status: number, body: unknown): ErrorAnswer {
  if (body && typeof body === 'object') {
    const { error, detail } = body as { error?: unknown; detail?: unknown };
    if (error && typeof error === 'object') {
      const { message, type, param } = error as { message?: unknown; type?: unknown; param?: unknown };
      return {
        endpoint,
        status,
        envelope: 'error',
        ...(typeof type === 'string' ? { type } : {}),
        ...(typeof param === 'string' ? { param } : {}),
        message: String(message ?? ''),
      };
    }
    if (typeof error === 'string') return { endpoint, status, envelope: 'error', message: error };
    if (detail !== undefined) {
      return {
        endpoint,
        status,
        envelope: 'detail',
        message: typeof detail === 'string' ? detail : JSON.stringify(detail),
      };
    }
  }
  const message = typeof body === 'string' ? body.slice(0, 300) : 'no error body';
  return { endpoint, status, envelope: 'none', message };
}
