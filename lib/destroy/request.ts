import { z } from 'zod';
import type { Config } from '../config.ts';
import { BadRequestError } from '../errors.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import { guidSchema, parseInput } from '../schemas.ts';

export interface DestroyRequest {
  readonly guid: string;
  /** Whether a key the API leaves behind may be deleted from LiteLLM's database. */
  readonly databaseDelete: boolean;
  /** The target the caller believes the lab is on; another than the lab's own is refused. */
  readonly target?: string;
}

const targetSchema = z.string({ error: 'must be a string' }).min(1).max(64);

const booleanText = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .transform((v) => v === 'true');

const httpSchema = z.strictObject({
  guid: guidSchema,
  force_db_delete: booleanText.optional(),
  target: targetSchema.optional(),
});
const eventSchema = z.looseObject({
  guid: guidSchema,
  target: targetSchema.optional(),
  force_db_delete: z.union([z.boolean(), booleanText], { error: 'must be true or false' }).optional(),
});

/**
 * `DELETE /keys/{guid}?force_db_delete=` or a `Lab Destroyed` detail. Direct deletion follows the
 * deployment (FORCE_DB_DELETE) unless the request says otherwise; asking for it where the
 * deployment forbids it is a 400, before anything is deleted.
 */
export function parseDestroyRequest(
  input: unknown,
  trigger: Trigger,
  config: Pick<Config, 'forceDbDelete'>,
): DestroyRequest {
  const body =
    trigger === 'http'
      ? parseInput(httpSchema, input, 'destroy request')
      : parseInput(eventSchema, input, 'Lab Destroyed detail');
  if (body.force_db_delete === true && !config.forceDbDelete) {
    throw new BadRequestError(
      'direct database deletion is disabled on this deployment (FORCE_DB_DELETE=false)',
      [{ field: 'force_db_delete', message: 'is not allowed on this deployment' }],
    );
  }
  return {
    guid: body.guid,
    databaseDelete: body.force_db_delete ?? config.forceDbDelete,
    ...(body.target === undefined ? {} : { target: body.target }),
  };
}
