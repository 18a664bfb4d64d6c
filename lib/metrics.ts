import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SETTINGS } from './settings.ts';

/**
 * CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools Metrics): no API call,
 * no extra permission. The namespace follows POWERTOOLS_METRICS_NAMESPACE when set.
 */
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || SETTINGS.POWERTOOLS_METRICS_NAMESPACE.default;
const metrics = new Metrics({ namespace, serviceName: 'litellm-virtual-keys' });

export type KeyMetric = 'KeysCreated' | 'KeysDeleted' | 'KeysExtended' | 'KeysMoved' | 'KeysSwept';

/** How many of `items` belong to each package. */
export function countPerPackage<T>(items: readonly T[], packageOf: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(packageOf(item), (counts.get(packageOf(item)) ?? 0) + 1);
  return counts;
}

/** One line per package, so dashboards can split every count by subscription package. */
export function publishKeyCounts(
  name: KeyMetric,
  operation: string,
  perPackage: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
): void {
  const entries = perPackage instanceof Map ? [...perPackage] : Object.entries(perPackage);
  for (const [packageName, count] of entries) {
    if (count <= 0) continue;
    metrics.addDimensions({ operation, package: packageName });
    metrics.addMetric(name, MetricUnit.Count, count);
    metrics.publishStoredMetrics();
  }
}

/** One count under its own dimensions, written at once: an alarm reads these. */
function publishCount(name: string, dimensions: Readonly<Record<string, string>>, value = 1): void {
  metrics.addDimensions(dimensions);
  metrics.addMetric(name, MetricUnit.Count, value);
  metrics.publishStoredMetrics();
}

/**
 * An operation that did not succeed: `Failures` when the service could not get past it (a 5xx:
 * LiteLLM or AWS down, a lease lost), `Refusals` for a 4xx (bad input, 404, 409 conflict or stale
 * lab event, a cap), which is normal traffic and never pages.
 */
export function publishOutcome(operation: string, status: number, count = 1): void {
  publishCount(status >= 500 ? 'Failures' : 'Refusals', { operation }, count);
}

/** A function whose configuration could not be read at cold start: it is about to give up. */
export function publishConfigError(functionName: string): void {
  publishCount('ConfigErrors', { function: functionName });
}

/** An operation could not reach a LiteLLM target (network error, timeout or 5xx after its retries). */
export function publishLiteLlmUnavailable(target: string): void {
  publishCount('LiteLlmUnavailable', { target });
}

/** The AWS services whose throttling is counted. */
export type ThrottledService = 'SecretsManager' | 'KMS' | 'DynamoDB';

/**
 * Its dimension `service` is Powertools' default one (this service's name on every other metric):
 * here it names the AWS service instead, through a writer of its own, rather than overwriting it.
 */
const throttledWriters = new Map<ThrottledService, Metrics>();

/** A call to `service` that was still throttled after the SDK's own retries. */
export function publishAwsThrottled(service: ThrottledService): void {
  let writer = throttledWriters.get(service);
  if (!writer) {
    writer = new Metrics({ namespace, serviceName: service });
    throttledWriters.set(service, writer);
  }
  writer.addMetric('AwsThrottled', MetricUnit.Count, 1);
  writer.publishStoredMetrics();
}

/** One run's figures under the given dimensions: counts, and durations in milliseconds. */
export function publishFigures(
  dimensions: Readonly<Record<string, string>>,
  counts: readonly (readonly [string, number])[],
  durationsMs: readonly (readonly [string, number])[] = [],
): void {
  metrics.addDimensions(dimensions);
  for (const [name, value] of counts) metrics.addMetric(name, MetricUnit.Count, value);
  for (const [name, value] of durationsMs) metrics.addMetric(name, MetricUnit.Milliseconds, value);
  metrics.publishStoredMetrics();
}

/** The in-flight watch's run: labs whose lease or move has lasted too long, and the oldest one's age. */
export function publishInFlight(tooLong: number, oldestSeconds: number): void {
  metrics.addMetric('LabsInFlightTooLong', MetricUnit.Count, tooLong);
  metrics.addMetric('OldestInFlightSeconds', MetricUnit.Seconds, oldestSeconds);
  metrics.publishStoredMetrics();
}

/** A lab event given up after its retries and parked (the alarm fires on the first). */
export function publishLabEventParked(): void {
  metrics.addMetric('LabEventsParked', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
