import middy from '@middy/core';
import { invocationLogContext } from '../lib/middleware/log-context.ts';
import { configAtStart } from '../lib/startup.ts';
import { watchInFlight } from '../lib/watch/in-flight-watch.ts';
import { readWatchConfig } from '../lib/watch/watch-config.ts';

const config = configAtStart('inFlightWatch', () => readWatchConfig(process.env));

/** Every few minutes (schedule): labs whose lease or move has lasted too long, logged and counted. */
export const handler = middy()
  .use(invocationLogContext('inFlightWatch'))
  .handler(() => watchInFlight(config.labsTable, new Date()));
