import { publishFigures, publishKeyCounts, publishOutcome } from '../metrics.ts';
import type { SweepReport } from './report.ts';

/**
 * One sweep's figures; a dry run is told apart by its dimension, so it never looks like real
 * deletions. `Failures` {operation: sweep} counts a run that failed somewhere, like a request's 5xx.
 */
export function publishSweepMetrics(report: SweepReport): void {
  publishFigures(
    { dry_run: String(report.dry_run) },
    [
      ['KeysScanned', report.scanned],
      ['KeysExpired', report.expired],
      ['KeysSwept', report.deleted],
      ['SweepFailures', report.failed],
      ['KeysPending', report.pending],
      ['LateKeysDeleted', report.late_keys_deleted],
      ['UnrecordedKeys', report.reconciliation.unrecorded],
      ['ReconcileBreakerOpen', report.reconciliation.breaker ? 1 : 0],
      ['ExpiryWarnings', report.expiry_warnings],
      ['SweepStoppedEarly', report.stopped_early ? 1 : 0],
      // The run ended with a report (a sweep that throws publishes none): an alarm on its absence.
      ['SweepCompleted', 1],
    ],
    [['SweepDuration', report.duration_ms]],
  );
  publishKeyCounts('KeysSwept', 'sweep', report.deleted_by_package);
  // A key it could not delete, or a target it could not reach, is a failure of the run, as a 5xx is of a request.
  const unreachable = Object.values(report.targets).some((target) => target.status === 'unavailable');
  if (report.failed > 0 || unreachable) publishOutcome('sweep', 500);
}
