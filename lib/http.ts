import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { awsUnavailable } from './aws-errors.ts';
import { BadRequestError, HttpError } from './errors.ts';
import { log } from './log.ts';

export type HttpResult = Exclude<APIGatewayProxyResultV2, string>;

export function jsonResponse(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** middy's own HTTP errors (the JSON body parser's 415/422) carry a statusCode. */
function isMiddyHttpError(error: unknown): error is Error & { statusCode: number } {
  return error instanceof Error && typeof (error as { statusCode?: unknown }).statusCode === 'number';
}

/** middy wraps failures of its fetching middlewares (secrets) as "Failed to resolve internal values". */
function unwrapMiddyInternal(error: unknown): unknown {
  const cause = (error as { cause?: { package?: unknown; data?: unknown } } | undefined)?.cause;
  if (cause?.package === '@middy/util' && Array.isArray(cause.data) && cause.data.length > 0)
    return cause.data[0];
  return error;
}

/** The one mapping from any error to the HttpError callers see; unknown errors say nothing of themselves. */
export function toHttpError(thrown: unknown): HttpError {
  const error = unwrapMiddyInternal(thrown);
  if (error instanceof HttpError) return error;
  if (isMiddyHttpError(error) && error.statusCode < 500) {
    return new BadRequestError('request body must be valid JSON', [
      { field: '(body)', message: 'is not valid JSON' },
    ]);
  }
  return (
    awsUnavailable('AWS', error) ??
    new HttpError(500, 'internal', 'Internal error', 'the service failed; the error is logged')
  );
}

/** RFC 9457 problem+json; a 503 tells the caller when to come back. */
export function problemResponse(error: HttpError): HttpResult {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return {
    statusCode: error.status,
    headers,
    body: JSON.stringify({
      type: error.type,
      title: error.title,
      status: error.status,
      detail: error.message,
      errors: error.errors,
    }),
  };
}

/** Log a failed request at the level it deserves: caller mistakes are info, our failures are errors. */
export function logFailure(
  message: string,
  error: unknown,
  mapped: HttpError,
  fields: Record<string, unknown>,
) {
  const entry = { ...fields, status: mapped.status, problem: mapped.problem, detail: mapped.message };
  if (mapped.status >= 500) log.error(message, { ...entry, err: unwrapMiddyInternal(error) });
  else log.info(message, entry);
}
