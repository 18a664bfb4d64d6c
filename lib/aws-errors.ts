import { UnavailableError } from './errors.ts';

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
