import { UnavailableError, UpstreamError } from '../errors.ts';

/** LiteLLM answered 4xx (or an unexpected body): carries its status, `error.type` and message, secrets removed. */
export class LiteLlmResponseError extends UpstreamError {
  override name = 'LiteLlmResponseError';
  constructor(
    readonly endpoint: string,
    readonly upstreamStatus: number,
    readonly errorType: string | undefined,
    readonly upstreamMessage: string,
  ) {
    super(`LiteLLM ${endpoint} answered ${upstreamStatus}: ${upstreamMessage}`);
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

/** `/key/generate` refused the alias: some key already holds it (LiteLLM's message, 400). */
export function isDuplicateAlias(error: unknown): error is LiteLlmResponseError {
  return (
    error instanceof LiteLlmResponseError &&
    error.upstreamStatus === 400 &&
    /already exists/i.test(error.upstreamMessage) &&
    /alias/i.test(error.upstreamMessage)
  );
}
