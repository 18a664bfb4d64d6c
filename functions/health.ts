import { authorizerContextOf } from '../lib/auth/authorizer-context.ts';
import { httpCaller } from '../lib/auth/client-grants.ts';
import { getConfig } from '../lib/config.ts';
import { checkHealth, reportFor } from '../lib/health/report.ts';
import { jsonResponse } from '../lib/http.ts';
import { log } from '../lib/log.ts';
import { httpRoute } from '../lib/middleware/http-route.ts';
import { depsOf } from '../lib/middleware/invocation-deps.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('health', getConfig);

/**
 * `GET /health`: each LiteLLM target's readiness and release, the ledger and KMS; 503 when any part
 * fails. The caller sees only its own targets and fixed reasons; the log line has it all.
 */
export const handler = httpRoute(config, 'health', async (event, context) => {
  const { report, details } = await checkHealth(depsOf(context));
  if (report.status !== 'ok') log.warn('health check failing', { ...report, details });
  const answer = reportFor(httpCaller(authorizerContextOf(event)), report);
  return jsonResponse(report.status === 'ok' ? 200 : 503, answer);
});
