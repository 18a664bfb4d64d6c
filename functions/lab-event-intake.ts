import middy from '@middy/core';
import { readIntakeConfig } from '../lib/lab-events/config.ts';
import { queueLabEvent } from '../lib/lab-events/intake.ts';
import type { LabEvent } from '../lib/middleware/lab-event.ts';
import { invocationLogContext } from '../lib/middleware/log-context.ts';
import { configAtStart } from '../lib/startup.ts';
import { tracing } from '../lib/tracing.ts';

const config = configAtStart('labEventIntake', () => readIntakeConfig(process.env));

/** The lab-event rule's target: each event into the FIFO queue, in its lab's group. */
export const handler = middy<LabEvent, void>()
  .use(tracing())
  .use(invocationLogContext('labEventIntake'))
  .handler((event) => queueLabEvent(config, event));
