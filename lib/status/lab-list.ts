import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import type { Caller } from '../auth/client-grants.ts';
import { formatExpiry } from '../duration.ts';
import { type LabSummary, listLabs } from '../ledger/lab-listing.ts';
import { parseInput } from '../schemas.ts';

const MAX_LIMIT = 1000;

const querySchema = z.strictObject({
  state: z
    .enum(['provisioning', 'active', 'expired', 'destroyed'], {
      error: 'must be provisioning, active, expired or destroyed',
    })
    .optional(),
  package: z.string().min(1).max(64).optional(),
  client: z.string().min(1).max(128).optional(),
  target: z.string().min(1).max(64).optional(),
  expires_before: z.iso
    .datetime({
      offset: true,
      error: 'must be an ISO-8601 instant with a zone, such as 2026-12-26T06:00:00Z',
    })
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_LIMIT}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`)
    .optional(),
  cursor: z.string().min(1).max(2048).optional(),
});

function labOf(lab: LabSummary): Record<string, unknown> {
  return {
    guid: lab.guid,
    state: lab.state,
    package: lab.package ?? null,
    users: lab.users ?? null,
    litellm_key_expires:
      lab.state === 'active' || lab.state === 'expired'
        ? formatExpiry(lab.expiresAt ? new Date(lab.expiresAt) : undefined)
        : null,
    created_at: lab.createdAt ?? null,
    client: lab.client ?? null,
    target: lab.target ?? null,
    ...(lab.destroyedAt ? { destroyed_at: lab.destroyedAt } : {}),
  };
}

/**
 * `GET /keys`: labs of the ledger, filtered and paged with an opaque cursor. A client without
 * `all-labs` sees its own labs only, and asking for another client's is refused.
 */
export async function labList(
  query: Record<string, string | undefined>,
  deps: { readonly table: string; readonly caller: Caller },
): Promise<Record<string, unknown>> {
  const request = parseInput(querySchema, query, 'lab listing');
  const everyClient = deps.caller.scopes.has('all-labs');
  if (!everyClient && request.client !== undefined && request.client !== deps.caller.client) {
    requireScope(deps.caller, 'all-labs', 'to list the labs of another client');
  }
  const client = everyClient ? request.client : deps.caller.client;
  const page = await listLabs(
    deps.table,
    {
      ...(request.state ? { state: request.state } : {}),
      ...(request.package ? { package: request.package } : {}),
      ...(client ? { client } : {}),
      ...(request.target ? { target: request.target } : {}),
      ...(request.expires_before ? { expiresBefore: new Date(request.expires_before).toISOString() } : {}),
    },
    request.limit ?? 100,
    request.cursor,
  );
  return { labs: page.labs.map(labOf), next_cursor: page.nextCursor ?? null };
}
