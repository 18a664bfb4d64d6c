import { formatExpiry } from '../duration.ts';
import { currentRequestIds } from '../request-ids.ts';
import type { Trigger } from './lifecycle.ts';

/** What every result event says of the lab it concerns. */
export interface LabFacts {
  readonly guid: string;
  readonly aliases: readonly string[];
  readonly models: readonly string[];
  readonly expires: Date | undefined;
}

/**
 * The detail every result event shares; a lab whose key came from an event reads it with GET
 * /keys/{guid}. It names the call that caused it: API Gateway's request id, or the lab event's id.
 */
export function labDetail(facts: LabFacts, trigger: Trigger | 'schedule'): Record<string, unknown> {
  return {
    guid: facts.guid,
    litellm_key_aliases: facts.aliases,
    litellm_available_models: facts.models,
    litellm_key_expires: formatExpiry(facts.expires),
    trigger,
    ...(trigger === 'schedule' ? {} : currentRequestIds()),
  };
}
