import { z } from 'zod';
import { guidSchema, parseInput } from '../schemas.ts';

export interface MoveRequest {
  readonly guid: string;
  /** The LiteLLM target the lab's keys go to. */
  readonly target: string;
}

const schema = z.strictObject({
  guid: guidSchema,
  target: z.string({ error: 'must be a string' }).min(1).max(64),
});

/** `POST /keys/{guid}/move` with `{"target": "<name>"}`; the target is checked against the deployment's with the caller's limits. */
export function parseMoveRequest(input: unknown): MoveRequest {
  const body = parseInput(schema, input, 'move request');
  return { guid: body.guid, target: body.target };
}
