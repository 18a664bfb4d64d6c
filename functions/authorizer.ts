import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { bearerToken, tokenEntryOf, tokensOf } from '../lib/auth/api-tokens.ts';
import { readAuthorizerConfig } from '../lib/auth/authorizer-config.ts';
import { type GrantsContext, grantsContext } from '../lib/auth/client-grants.ts';
import { log } from '../lib/log.ts';
import { apiTokensOf, authorizerChain } from '../lib/middleware/authorizer.ts';
import { configAtStart } from '../lib/startup.ts';

const config = configAtStart('authorizer', () => readAuthorizerConfig(process.env));

/** HTTP API simple response; the context reaches the route's function as `requestContext.authorizer.lambda`. */
export type Decision = { isAuthorized: false } | { isAuthorized: true; context: GrantsContext };

/** The Lambda REQUEST authorizer in front of every route: a known bearer token, or nothing. */
export const handler = authorizerChain<APIGatewayRequestAuthorizerEventV2, Decision>(
  config,
  async (event, context): Promise<Decision> => {
    const route = event.routeKey;
    const token = bearerToken(event.headers?.authorization);
    if (!token) {
      log.info('denied', {
        route,
        reason: 'no bearer token',
        source_ip: event.requestContext?.http?.sourceIp,
      });
      return { isAuthorized: false };
    }
    const entry = tokenEntryOf(tokensOf(apiTokensOf(context)).tokens, token);
    if (!entry) {
      log.info('denied', { route, reason: 'unknown token', source_ip: event.requestContext?.http?.sourceIp });
      return { isAuthorized: false };
    }
    log.debug('authorized', { route, client: entry.client, scopes: entry.scopes });
    return { isAuthorized: true, context: grantsContext(entry.client, entry.scopes, entry.limits) };
  },
);
