/** What the authorizer put in the context of an HTTP API request (payload 2.0); undefined for other events. */
export function authorizerContextOf(event: unknown): unknown {
  if (typeof event !== 'object' || event === null || !('requestContext' in event)) return undefined;
  const { requestContext } = event;
  if (typeof requestContext !== 'object' || requestContext === null || !('authorizer' in requestContext))
    return undefined;
  const { authorizer } = requestContext;
  return typeof authorizer === 'object' && authorizer !== null && 'lambda' in authorizer
    ? authorizer.lambda
    : undefined;
}

/** The API client the authorizer recognised, as API Gateway passes it to the route's function. */
export function apiClientOf(event: unknown): string | undefined {
  const context = authorizerContextOf(event);
  return typeof context === 'object' &&
    context !== null &&
    'client' in context &&
    typeof context.client === 'string'
    ? context.client
    : undefined;
}
