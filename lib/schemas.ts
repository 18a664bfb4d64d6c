import { z } from 'zod';
import { type Duration, durationMs, parseDuration } from './duration.ts';
import { BadRequestError, type FieldError } from './errors.ts';

/** Lab GUIDs and user names: 1-40 of a-z, 0-9 and '-', not starting or ending with '-'. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** A base for numbered lab users (`user` gives user1..userN): with up to three digits, a valid name. */
export const USER_BASE_PATTERN = /^[a-z0-9][a-z0-9-]{0,36}$/;

export const guidSchema = z
  .string({ error: 'must be a string' })
  .regex(NAME_PATTERN, 'must be 1-40 lowercase letters, digits or "-", not starting or ending with "-"');

export const durationSchema = z
  .string({ error: 'must be a string' })
  .refine((text) => parseDuration(text) !== undefined, {
    message: 'must be digits followed by one of s, m, h, d, w, mo (for example 7d, 168h, 30m)',
  });

/** The longest term a key may be given, by duration or by an absolute expiry. */
export const MAX_TERM_MS = 3653 * 86_400_000;
const MAX_TERM_MONTHS = 120;

/** Longer than zero and at most ten years; months are calendar months, so they are capped by count. */
export function isAllowedTerm(duration: Duration): boolean {
  if (duration.amount <= 0) return false;
  return duration.unit === 'mo' ? duration.amount <= MAX_TERM_MONTHS : durationMs(duration) <= MAX_TERM_MS;
}

/** A key's term: LiteLLM's duration grammar, longer than zero and at most ten years. */
export const termSchema = durationSchema.refine((text) => {
  const duration = parseDuration(text);
  // a grammar error is reported once, by durationSchema
  return duration === undefined || isAllowedTerm(duration);
}, 'must be longer than zero and at most ten years');

function fieldOf(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(body)';
}

/** The value at `path` in `input`, or undefined when the path does not exist. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * zod issues as our field errors; each unknown field is named on its own. A missing field is
 * "required"; zod's issues do not carry the input, so `input` tells missing from mistyped.
 */
function fieldErrors(error: z.ZodError, input: unknown): FieldError[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: fieldOf([...issue.path, key]),
        message: 'is not a known field',
      }));
    }
    if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) {
      return [{ field: fieldOf(issue.path), message: 'is required' }];
    }
    return [{ field: fieldOf(issue.path), message: issue.message }];
  });
}

/** Parse `input` or throw a 400 naming every bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new BadRequestError(`${what} must be a JSON object`, [
      { field: '(body)', message: 'must be a JSON object' },
    ]);
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const errors = fieldErrors(parsed.error, input);
  const named = errors.slice(0, 5).map((e) => `${e.field} ${e.message}`);
  const rest = errors.length - named.length;
  throw new BadRequestError(
    `${what} is invalid: ${named.join('; ')}${rest > 0 ? `; and ${rest} more` : ''}`,
    errors,
  );
}

/**
 * An HTTP body with the guid of its path added, for routes under `/keys/{guid}`. The body itself
 * must not name a guid: it would be silently replaced by the path's.
 */
export function withPathGuid(body: unknown, guid: string | undefined): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  if (Object.hasOwn(body, 'guid')) {
    throw new BadRequestError('the guid is given by the path, not the body', [
      { field: 'guid', message: 'is not a known field' },
    ]);
  }
  return { ...body, guid };
}
