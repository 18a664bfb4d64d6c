import { z } from 'zod';
import { parseInput } from '../schemas.ts';

export interface SweepRequest {
  readonly dryRun: boolean;
  /** The cut-over's clean-up of the Ansible role's expired keys instead of the nightly sweep (lib/role-made/). */
  readonly roleMade: boolean;
  readonly trigger: 'schedule' | 'manual';
}

/** The nightly rule's event, as EventBridge Scheduler and scheduled rules deliver it. */
function isScheduledEvent(input: unknown): boolean {
  const event = input as { source?: unknown; 'detail-type'?: unknown } | null;
  return event?.source === 'aws.events' && event['detail-type'] === 'Scheduled Event';
}

// Strict, so a misspelt `dryRun` is refused instead of running a sweep that deletes.
const manualSchema = z.strictObject({
  dry_run: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], {
      error: 'must be true or false',
    })
    .optional(),
  role_made: z.literal(true, { error: 'must be true (the role-made sweep), or left out' }).optional(),
});

/**
 * The schedule's event sweeps for real; a manual invoke is `{}` or `{"dry_run": true}`, and
 * `{"role_made": true}` (with or without `dry_run`) is the cut-over's clean-up.
 */
export function parseSweepRequest(input: unknown): SweepRequest {
  if (isScheduledEvent(input)) return { dryRun: false, roleMade: false, trigger: 'schedule' };
  const body = parseInput(manualSchema, input ?? {}, 'sweep invocation');
  return { dryRun: body.dry_run ?? false, roleMade: body.role_made ?? false, trigger: 'manual' };
}
