import { UnavailableError } from './errors.ts';
import { publishAwsThrottled, type ThrottledService } from './metrics.ts';

/** The error names AWS services throttle with (the SDK's own list of throttling errors, trimmed to calls we make). */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottledException',
]);

/** An SDK error that says the service throttled the call (its name, HTTP 429, or the SDK's own flag). */
export function isThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const sdk = error as { $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  return (
    THROTTLING.has(error.name) || sdk.$metadata?.httpStatusCode === 429 || sdk.$retryable?.throttling === true
  );
}

/**
 * Counts `error` as `AwsThrottled` for `service` when it is throttling; call it with the SDK's final
 * error (its own retries spent), once per failed call.
 */
export function countThrottling(service: ThrottledService, error: unknown): void {
  if (isThrottling(error)) publishAwsThrottled(service);
}

/**
 * An AWS SDK failure that a later retry may cure (no answer, 5xx, throttling) as a 503; undefined
 * for the rest (access denied, missing resource), which are deployment faults.
 */
export function awsUnavailable(service: string, error: unknown): UnavailableError | undefined {
  // Only SDK errors carry $metadata; one without an HTTP status never got an answer.
  if (!(error instanceof Error) || !('$metadata' in error)) return undefined;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const transient =
    status === undefined ||
    status >= 500 ||
    status === 429 ||
    /Throttl|Timeout|ServiceUnavailable/.test(error.name);
  if (!transient) return undefined;
  return new UnavailableError(`${service} is unavailable (${error.name})`, 10, { cause: error });
}
