import { publishFigures, publishKeyCounts } from '../metrics.ts';
import type { SweepReport } from './report.ts';

/** One sweep's figures; a dry run is told apart by its dimension, so it never looks like real deletions. */
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
    ],
    [['SweepDuration', report.duration_ms]],
  );
  publishKeyCounts('KeysSwept', 'sweep', report.deleted_by_package);
}
