import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SweepReport } from './sweep/report.ts';

/**
 * CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools Metrics): no API call,
 * no extra permission. The namespace follows POWERTOOLS_METRICS_NAMESPACE when set.
 */
const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'LiteLLMVirtualKeys',
  serviceName: 'litellm-virtual-keys',
});

/** One sweep's figures; a dry run is told apart by its dimension, so it never looks like real deletions. */
export function publishSweepMetrics(report: SweepReport): void {
  metrics.addDimension('dry_run', String(report.dry_run));
  const counts: [string, number][] = [
    ['KeysScanned', report.scanned],
    ['KeysExpired', report.expired],
    ['KeysSwept', report.deleted],
    ['SweepFailures', report.failed],
    ['KeysPending', report.pending],
    ['OrphanSecretsDeleted', report.orphan_secrets_deleted],
    ['ExpiryWarnings', report.expiry_warnings],
    ['SweepStoppedEarly', report.stopped_early ? 1 : 0],
  ];
  for (const [name, value] of counts) metrics.addMetric(name, MetricUnit.Count, value);
  metrics.addMetric('SweepDuration', MetricUnit.Milliseconds, report.duration_ms);
  metrics.publishStoredMetrics();
}
