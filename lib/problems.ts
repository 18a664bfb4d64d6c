/** Any failure as the problem callers, lab events and the sweep report see: mapped once, redacted and bounded. */
import { awsUnavailable } from './aws-errors.ts';
import { BadRequestError, type FieldError, Problem } from './errors.ts';
import { log, redact } from './log.ts';

/** middy's own HTTP errors (the JSON body parser's 415/422) carry a statusCode. */
function isMiddyHttpError(error: unknown): error is Error & { statusCode: number } {
  return error instanceof Error && typeof (error as { statusCode?: unknown }).statusCode === 'number';
}

/** middy wraps failures of its fetching middlewares (secrets) as "Failed to resolve internal values". */
export function unwrapMiddyInternal(error: unknown): unknown {
  const cause = (error as { cause?: { package?: unknown; data?: unknown } } | undefined)?.cause;
  if (cause?.package === '@middy/util' && Array.isArray(cause.data) && cause.data.length > 0)
    return cause.data[0];
  return error;
}

/** The one mapping from any error to the Problem callers see; unknown errors say nothing of themselves. */
export function toProblem(thrown: unknown): Problem {
  const error = unwrapMiddyInternal(thrown);
  if (error instanceof Problem) return error;
  if (isMiddyHttpError(error) && error.statusCode < 500) {
    return new BadRequestError('request body must be valid JSON', [
      { field: '(body)', message: 'is not valid JSON' },
    ]);
  }
  return (
    awsUnavailable('AWS', error) ??
    new Problem(500, 'internal', 'Internal error', 'the service failed; the error is logged')
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
export function problemOf(error: Problem): ProblemDetails {
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

/** Log a failed request at the level it deserves: caller mistakes are info, our failures are errors. */
export function logFailure(
  message: string,
  error: unknown,
  mapped: Problem,
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
