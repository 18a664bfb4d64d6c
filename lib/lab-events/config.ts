import { type Env, integer, text } from '../env.ts';
import { ConfigError } from '../errors.ts';
import { MIN_RETRY_SPAN_SECONDS, retrySpanSeconds } from './retry-schedule.ts';

/** The lab events the queue carries, each to the function that applies it. */
export const LAB_EVENT_FUNCTIONS = {
  'Lab Provisioned': 'provision',
  'Lab Destroyed': 'destroy',
  'Lab Extended': 'extend',
} as const;

export type LabEventFunction = (typeof LAB_EVENT_FUNCTIONS)[keyof typeof LAB_EVENT_FUNCTIONS];

export interface IntakeConfig {
  readonly queueUrl: string;
}

export interface RouterConfig extends IntakeConfig {
  /** Where the router parks a lab event whose retries are spent (lib/lab-events/park.ts). */
  readonly parkedQueueUrl: string;
  /** The receive at which a lab event that fails again is parked (lib/lab-events/router.ts). */
  readonly maxReceives: number;
  /** The only `source` a queued lab event may have: that of the lab-event rule. */
  readonly labEventSource: string;
  /** Each function's deployed name. */
  readonly functionNames: Readonly<Record<LabEventFunction, string>>;
  readonly eventBusName: string;
}

export function readIntakeConfig(env: Env): IntakeConfig {
  return { queueUrl: text(env, 'LAB_EVENT_QUEUE_URL') };
}

/** Refuses a LAB_EVENT_MAX_RECEIVES whose retries would end before a day-long outage does. */
export function readRouterConfig(env: Env): RouterConfig {
  const maxReceives = integer(env, 'LAB_EVENT_MAX_RECEIVES', 1);
  const spanSeconds = retrySpanSeconds(maxReceives);
  if (spanSeconds < MIN_RETRY_SPAN_SECONDS) {
    throw new ConfigError(
      `LAB_EVENT_MAX_RECEIVES ${maxReceives} retries a lab event for ${(spanSeconds / 3600).toFixed(1)} h, under 24 h`,
    );
  }
  return {
    queueUrl: text(env, 'LAB_EVENT_QUEUE_URL'),
    parkedQueueUrl: text(env, 'LAB_EVENT_PARKED_QUEUE_URL'),
    maxReceives,
    labEventSource: text(env, 'LAB_EVENT_SOURCE'),
    functionNames: {
      provision: text(env, 'PROVISION_FUNCTION_NAME'),
      destroy: text(env, 'DESTROY_FUNCTION_NAME'),
      extend: text(env, 'EXTEND_FUNCTION_NAME'),
    },
    eventBusName: text(env, 'EVENT_BUS_NAME'),
  };
}
