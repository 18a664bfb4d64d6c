export interface FieldError {
  readonly field: string;
  readonly message: string;
}

const PROBLEM_BASE = 'urn:litellm-virtual-keys:problem:';

/**
 * A refusal or failure the service can explain: an RFC 9457 problem (its type, title and detail,
 * safe to show callers) with the status an HTTP answer gives it. Lab events and the sweep report
 * the same problems.
 */
export class Problem extends Error {
  override name = 'Problem';
  constructor(
    readonly status: number,
    readonly problem: string,
    readonly title: string,
    detail: string,
    readonly errors: readonly FieldError[] = [],
    options?: ErrorOptions,
  ) {
    super(detail, options);
  }
  get type(): string {
    return PROBLEM_BASE + this.problem;
  }
  /** Client mistakes are permanent: retrying the same input cannot succeed. */
  get permanent(): boolean {
    return this.status < 500;
  }
  /** When a retry may succeed, in seconds; sent as Retry-After. */
  get retryAfterSeconds(): number | undefined {
    return undefined;
  }
}

export class BadRequestError extends Problem {
  override name = 'BadRequestError';
  constructor(detail: string, errors: readonly FieldError[] = []) {
    super(400, 'invalid-request', 'Invalid request', detail, errors);
  }
}

export class NotFoundError extends Problem {
  override name = 'NotFoundError';
  constructor(detail: string) {
    super(404, 'lab-not-found', 'Lab not found', detail);
  }
}

export class ConflictError extends Problem {
  override name = 'ConflictError';
  constructor(detail: string) {
    super(409, 'alias-conflict', 'Key alias held elsewhere', detail);
  }
}

/** LiteLLM answered with something we did not expect; 502. */
export class UpstreamError extends Problem {
  override name = 'UpstreamError';
  constructor(detail: string, options?: ErrorOptions) {
    super(502, 'litellm-error', 'LiteLLM error', detail, [], options);
  }
}

/** LiteLLM or AWS could not be reached (or kept failing); 503, worth retrying later. */
export class UnavailableError extends Problem {
  override name = 'UnavailableError';
  constructor(
    detail: string,
    private readonly retryAfter = 30,
    options?: ErrorOptions,
  ) {
    super(503, 'unavailable', 'Dependency unavailable', detail, [], options);
  }
  override get retryAfterSeconds(): number {
    return this.retryAfter;
  }
}

/** The deployment is misconfigured (bad env, unreadable master-key secret); never retried blindly. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
