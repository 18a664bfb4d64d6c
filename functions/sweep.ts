import { getConfig } from '../lib/config.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { labEventRoute } from '../lib/middleware/lab-event.ts';
import { configAtStart } from '../lib/startup.ts';
import { SWEEP_CALL_MARGIN_MS, sweep } from '../lib/sweep/operation.ts';

const config = configAtStart('sweep', getConfig);

/** The nightly schedule, and manual invokes with `{"dry_run": true}`. */
export const handler = labEventRoute(
  config,
  'sweep',
  (event: unknown, context) => sweep(event, depsOf(context)),
  { marginMs: SWEEP_CALL_MARGIN_MS },
);
