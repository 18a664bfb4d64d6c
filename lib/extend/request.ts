import { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import { guidSchema, MAX_TERM_MS, parseInput, termSchema } from '../schemas.ts';

/** A new term for every key of a lab: a duration from now, or an absolute instant. */
export type ExtendRequest =
  | { readonly guid: string; readonly duration: string }
  | { readonly guid: string; readonly expires: Date };

const fields = {
  guid: guidSchema,
  duration: termSchema.optional(),
  expires: z.iso
    .datetime({
      offset: true,
      error: 'must be an ISO-8601 instant with a zone, such as 2026-12-26T06:00:00Z',
    })
    .optional(),
};
const httpSchema = z.strictObject(fields);
const eventSchema = z.looseObject(fields);

/** `POST /keys/{guid}/extend` (body plus the path's guid) or a `Lab Extended` detail. */
export function parseExtendRequest(input: unknown, trigger: Trigger, now = new Date()): ExtendRequest {
  const body =
    trigger === 'http'
      ? parseInput(httpSchema, input, 'extend request')
      : parseInput(eventSchema, input, 'Lab Extended detail');
  if ((body.duration === undefined) === (body.expires === undefined)) {
    throw new BadRequestError(
      'give either duration (from now) or expires (an instant), not both or neither',
      [
        {
          field: body.duration === undefined ? 'duration' : 'expires',
          message: 'exactly one of duration and expires',
        },
      ],
    );
  }
  if (body.duration !== undefined) return { guid: body.guid, duration: body.duration };
  const expires = new Date(body.expires as string);
  const ahead = expires.getTime() - now.getTime();
  if (ahead <= 0 || ahead > MAX_TERM_MS) {
    throw new BadRequestError(`expires ${body.expires} must be in the future and at most ten years ahead`, [
      { field: 'expires', message: 'must be in the future and at most ten years ahead' },
    ]);
  }
  return { guid: body.guid, expires };
}
