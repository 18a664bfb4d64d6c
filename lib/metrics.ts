import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools Metrics): no API call,
 * no extra permission. The namespace follows POWERTOOLS_METRICS_NAMESPACE when set.
 */
const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'LiteLLMVirtualKeys',
  serviceName: 'litellm-virtual-keys',
});

export type KeyMetric =
  | 'KeysCreated'
  | 'KeysDeleted'
  | 'KeysExtended'
  | 'KeysMoved'
  | 'KeysSwept'
  | 'KeysFailed';

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

/**
 * The package a failed request named, for the failure metric's dimension; only a package of the
 * catalogue counts, so callers cannot mint dimension values.
 */
function packageNamed(input: unknown, known: Readonly<Record<string, unknown>>): string {
  let body = input;
  if (typeof input === 'string') {
    try {
      body = JSON.parse(input);
    } catch {
      return 'unknown';
    }
  }
  const name: unknown = typeof body === 'object' && body !== null ? Reflect.get(body, 'package') : undefined;
  return typeof name === 'string' && Object.hasOwn(known, name) ? name : 'unknown';
}

/** Failures the service could not get past (conflicts, LiteLLM or AWS); caller mistakes are not counted. */
export function publishFailure(
  operation: string,
  status: number,
  input: unknown,
  packages: Readonly<Record<string, unknown>>,
): void {
  if (status === 409 || status >= 500) {
    publishKeyCounts('KeysFailed', operation, { [packageNamed(input, packages)]: 1 });
  }
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
