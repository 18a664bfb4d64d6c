import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * The tracer once lib/tracing.ts has loaded it (tracing on), for the AWS SDK clients made after:
 * kept apart from the middleware so that a module wrapping its client (and the authorizer, which
 * is not traced) never bundles the tracer or the X-Ray SDK for it.
 */
let tracer: Tracer | undefined;

export function setTracer(loaded: Tracer): void {
  tracer = loaded;
}

/** An AWS SDK client, captured when tracing is on (clients are made on first use, after the tracer loaded). */
export function traced<T>(client: T): T {
  return tracer ? tracer.captureAWSv3Client(client) : client;
}

/** Whether the tracer has been loaded in this process. */
export function tracerLoaded(): boolean {
  return tracer !== undefined;
}
