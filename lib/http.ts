import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { awsUnavailable } from './aws-errors.ts';
import { BadRequestError, type FieldError, HttpError } from './errors.ts';
import { log, redact } from './log.ts';

export type HttpResult = Exclude<APIGatewayProxyResultV2, string>;

/** Answers carry keys or facts about labs: no cache on the way may keep them. */
const NO_STORE = { 'cache-control': 'no-store' };

export function jsonResponse(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...NO_STORE },
    body: JSON.stringify(body),
  };
}

/** Bodies larger than this are refused before they are parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

export class PayloadTooLargeError extends HttpError {
  override name = 'PayloadTooLargeError';
  constructor(bytes: number, what: string) {
    super(
      413,
      'body-too-large',
      'Body too large',
      `the ${what} has ${bytes} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  }
}

/** An HTTP body's size as sent (a base64 body counts its decoded bytes); over the limit is a 413. */
export function refuseLargeBody(body: string | undefined, isBase64Encoded: boolean | undefined): void {
  if (!body) return;
  const bytes = Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf8');
  if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(bytes, 'request body');
}

/** A lab event's detail, measured as JSON; EventBridge allows 256 KiB, the service as much as for HTTP. */
export function refuseLargeDetail(detail: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(detail ?? null) ?? '', 'utf8');
  if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(bytes, 'event detail');
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

const MAX_FIELD_ERRORS = 20;
const MAX_DETAIL_CHARS = 1000;
const MAX_FIELD_ERROR_CHARS = 200;

/** Redacted, then cut to `max` characters: caller input and upstream text can be anything. */
function bounded(text: string, max: number): string {
  const safe = redact(text);
  return safe.length <= max ? safe : `${safe.slice(0, max - 1)}…`;
}

/** RFC 9457 problem details as every answer, event and log line shows them. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors: readonly FieldError[];
  /** Field errors beyond the first 20, counted, not listed. */
  readonly more_errors?: number;
}

/**
 * The one place a problem is built: the detail redacted (no key, master key or database URL,
 * whatever LiteLLM echoed) and capped, at most 20 field errors, each capped, and a count of the rest.
 */
export function problemOf(error: HttpError): ProblemDetails {
  const errors = error.errors.slice(0, MAX_FIELD_ERRORS).map((e) => ({
    field: bounded(e.field, MAX_FIELD_ERROR_CHARS),
    message: bounded(e.message, MAX_FIELD_ERROR_CHARS),
  }));
  const more = error.errors.length - errors.length;
  return {
    type: error.type,
    title: error.title,
    status: error.status,
    detail: bounded(error.message, MAX_DETAIL_CHARS),
    errors,
    ...(more > 0 ? { more_errors: more } : {}),
  };
}

/** RFC 9457 problem+json; a 503 tells the caller when to come back. */
export function problemResponse(error: HttpError): HttpResult {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', ...NO_STORE };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return { statusCode: error.status, headers, body: JSON.stringify(problemOf(error)) };
}

/** Log a failed request at the level it deserves: caller mistakes are info, our failures are errors. */
export function logFailure(
  message: string,
  error: unknown,
  mapped: HttpError,
  fields: Record<string, unknown>,
) {
  const problem = problemOf(mapped);
  const entry = {
    ...fields,
    status: mapped.status,
    problem: mapped.problem,
    detail: problem.detail,
    ...(problem.errors.length > 0 ? { errors: problem.errors } : {}),
    ...(problem.more_errors ? { more_errors: problem.more_errors } : {}),
  };
  if (mapped.status >= 500) log.error(message, { ...entry, err: unwrapMiddyInternal(error) });
  else log.info(message, entry);
}
