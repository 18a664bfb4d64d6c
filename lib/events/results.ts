import type { Config } from '../config.ts';
import type { DestroyedLab } from '../destroy/destroy-lab.ts';
import { spendOf } from '../destroy/spend.ts';
import { formatExpiry } from '../duration.ts';
import { type HttpError, UnavailableError } from '../errors.ts';
import type { ExtendedLab } from '../extend/extend-lab.ts';
import { problemOf } from '../http.ts';
import { log } from '../log.ts';
import type { LabKeys } from '../provision/provision-lab.ts';
import { type BusEvent, putEvents } from './bus.ts';

/** What started the change: an HTTP call or a lab lifecycle event. */
export type Trigger = 'http' | 'event';

export const RESULT_TYPES = {
  provisioned: 'Virtual Key Provisioned',
  destroyed: 'Virtual Key Destroyed',
  extended: 'Virtual Key Extended',
  failed: 'Virtual Key Failed',
} as const;

interface LabFacts {
  readonly guid: string;
  readonly aliases: readonly string[];
  readonly models: readonly string[];
  readonly expires: Date | undefined;
  readonly secretArns: readonly string[];
}

/** The detail every result event shares; a lab whose key came from an event reads it with GET /keys/{guid}. */
function labDetail(facts: LabFacts, trigger: Trigger): Record<string, unknown> {
  return {
    guid: facts.guid,
    litellm_key_aliases: facts.aliases,
    litellm_available_models: facts.models,
    litellm_key_expires: formatExpiry(facts.expires),
    ...(facts.secretArns[0] ? { secret_arn: facts.secretArns[0] } : {}),
    secret_arns: facts.secretArns,
    trigger,
  };
}

export function provisionedEvent(lab: LabKeys, trigger: Trigger): BusEvent {
  const first = lab.keys[0];
  const facts = {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.spec.alias),
    models: first?.models ?? [],
    expires: first?.expires,
    secretArns: lab.keys.map((key) => key.secretArn),
  };
  return {
    detailType: RESULT_TYPES.provisioned,
    detail: {
      ...labDetail(facts, trigger),
      subscription_package: first?.packageName,
      litellm_key_duration: first?.duration,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
      created: lab.created,
    },
  };
}

export function destroyedEvent(lab: DestroyedLab, trigger: Trigger): BusEvent {
  const facts = { guid: lab.guid, aliases: lab.aliases, ...lab.summary };
  return {
    detailType: RESULT_TYPES.destroyed,
    detail: {
      ...labDetail(facts, trigger),
      deleted_keys: lab.deletedKeys,
      was_missing: lab.wasMissing,
      litellm_key_ids: lab.checks.map((check) => check.keyId),
      spend: lab.spend.map(spendOf),
      total_spend: lab.totalSpend,
    },
  };
}

export function extendedEvent(lab: ExtendedLab, trigger: Trigger): BusEvent {
  const expiries = lab.keys.map((key) => key.expires?.getTime()).filter((t) => t !== undefined);
  const facts = {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.alias),
    models: lab.models,
    expires: expiries.length > 0 ? new Date(Math.max(...expiries)) : undefined,
    secretArns: lab.keys.flatMap((key) => (key.secretArn ? [key.secretArn] : [])),
  };
  return {
    detailType: RESULT_TYPES.extended,
    detail: {
      ...labDetail(facts, trigger),
      litellm_key_duration: lab.duration,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
    },
  };
}

/** A lab event that cannot succeed however often it is retried (bad detail, unknown lab, alias conflict). */
export function failedEvent(
  labEvent: { readonly 'detail-type'?: unknown; readonly id?: unknown; readonly detail?: unknown },
  error: HttpError,
): BusEvent {
  const guid = (labEvent.detail as { guid?: unknown } | null | undefined)?.guid;
  const short = (value: unknown) => (typeof value === 'string' ? value.slice(0, 256) : undefined);
  return {
    detailType: RESULT_TYPES.failed,
    detail: {
      ...(typeof guid === 'string' ? { guid: guid.slice(0, 256) } : {}),
      lab_event: { detail_type: short(labEvent['detail-type']), id: short(labEvent.id) },
      error: problemOf(error),
      reason: error.problem,
      trigger: 'event',
    },
  };
}

/**
 * Put a result event on the bus. After an HTTP call the caller already has the answer, so an event
 * that does not get through is logged; after a lab event it is thrown as unavailable, so Lambda
 * retries the (idempotent) run and the announcement with it.
 */
export async function announce(config: Pick<Config, 'eventBusName'>, event: BusEvent, trigger: Trigger) {
  const undelivered = await putEvents(config, [event]);
  if (undelivered.length === 0) return;
  if (trigger === 'event') {
    throw new UnavailableError(`EventBridge did not take the "${event.detailType}" event`);
  }
  log.error('result event not delivered', { detail_type: event.detailType, guid: event.detail.guid });
}
