import { putEvents } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import type { InvocationDeps } from '../invocation/deps.ts';
import { log } from '../log.ts';
import { publishSweepMetrics } from './metrics.ts';
import type { SweepReport } from './report.ts';
import { parseSweepRequest } from './request.ts';
import { type RoleMadeSweepReport, sweepRoleMadeKeys } from './role-made-sweep.ts';
import { runSweep } from './sweep.ts';

/** LiteLLM calls still under way this close to the invocation's end are abandoned (and counted as failed). */
export const SWEEP_CALL_MARGIN_MS = 10_000;
/** New work stops this much before the call deadline: enough to finish batches in flight and report. */
const STOP_BEFORE_CALL_DEADLINE_MS = 10_000;

/**
 * The nightly run or a manual invoke: sweep, then log, count and announce the report. The
 * role-made sweep of the cut-over is reported on its own: its log line and its answer only.
 */
export async function sweep(
  input: unknown,
  deps: InvocationDeps,
): Promise<SweepReport | { role_made: RoleMadeSweepReport }> {
  const request = parseSweepRequest(input);
  const runDeps = { ...deps, now: deps.now(), stopAt: deps.deadline.sooner(STOP_BEFORE_CALL_DEADLINE_MS) };
  if (request.roleMade) {
    const roleMade = await sweepRoleMadeKeys(request.dryRun, runDeps);
    log.info('swept role-made keys', { trigger: request.trigger, role_made: roleMade });
    return { role_made: roleMade };
  }
  const report = await runSweep(request, runDeps);
  log.info('swept', { trigger: request.trigger, ...report });
  publishSweepMetrics(report);
  await putEvents(deps.config, [
    { detailType: DETAIL_TYPES.swept, detail: { ...report, trigger: request.trigger } },
  ]);
  return report;
}
