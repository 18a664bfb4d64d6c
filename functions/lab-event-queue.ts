import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { readRouterConfig } from '../lib/lab-events/config.ts';
import { routeLabEvents } from '../lib/lab-events/router.ts';
import { invocationLogContext } from '../lib/middleware/log-context.ts';
import { configAtStart } from '../lib/startup.ts';
import { tracing } from '../lib/tracing.ts';

const config = configAtStart('labEventQueue', () => readRouterConfig(process.env));

/** The FIFO queue's consumer: each lab event to provision, destroy or extend, in its lab's order. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(tracing())
  .use(invocationLogContext('labEventQueue'))
  .handler((event, context) => routeLabEvents(config, event, context));
