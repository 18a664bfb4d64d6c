import { z } from 'zod';
import type { Config } from '../config.ts';
import { guidSchema, parseInput } from '../schemas.ts';
import { requestedTarget } from '../targets/target-config.ts';

export interface MoveRequest {
  readonly guid: string;
  /** The LiteLLM target the lab's keys go to. */
  readonly target: string;
}

const schema = z.strictObject({
  guid: guidSchema,
  target: z.string({ error: 'must be a string' }).min(1).max(64),
});

/** `POST /keys/{guid}/move` with `{"target": "<name>"}`; an unknown target is a 400 naming the known ones. */
export function parseMoveRequest(input: unknown, config: Pick<Config, 'targets'>): MoveRequest {
  const body = parseInput(schema, input, 'move request');
  requestedTarget(config.targets, body.target);
  return { guid: body.guid, target: body.target };
}
