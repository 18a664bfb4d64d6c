import type { Context } from 'aws-lambda';
import { getConfig } from '../lib/config.ts';
import { putEvents } from '../lib/events/bus.ts';
import { log } from '../lib/log.ts';
import { publishSweepMetrics } from '../lib/metrics.ts';
import { depsFor, eventChain, withServiceContext } from '../lib/middleware.ts';
import { SWEPT_DETAIL_TYPE, type SweepReport } from '../lib/sweep/report.ts';
import { parseSweepRequest } from '../lib/sweep/request.ts';
import { runSweep } from '../lib/sweep/sweep.ts';

const config = getConfig();

/** New work stops with this much of the invocation left: enough to finish batches in flight and report. */
const STOP_MARGIN_MS = 20_000;
/** LiteLLM calls still under way this close to the end are abandoned (and counted as failed). */
const CALL_MARGIN_MS = 10_000;

const sweep = eventChain<SweepReport, unknown>(config, 'sweep', async (event, context) => {
  const request = parseSweepRequest(event);
  const deps = depsFor(config, context, CALL_MARGIN_MS);
  const report = await runSweep(request, {
    ...deps,
    owner: deps.leaseOwner,
    config,
    now: new Date(),
    timeLeft: () => context.getRemainingTimeInMillis(),
    marginMs: STOP_MARGIN_MS,
  });
  log.info('swept', { trigger: request.trigger, ...report });
  publishSweepMetrics(report);
  await putEvents(config, [
    { detailType: SWEPT_DETAIL_TYPE, detail: { ...report, trigger: request.trigger } },
  ]);
  return report;
});

/** The nightly schedule, and manual invokes with `{"dry_run": true}`. */
export const handler = (event: unknown, context: Context) => withServiceContext(sweep)(event, context);
