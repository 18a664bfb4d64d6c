import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type middy from '@middy/core';
import { setTracer } from './tracer-state.ts';

/**
 * X-Ray tracing with Powertools' Tracer, when the stack turns it on (parameter `tracing`, which
 * sets POWERTOOLS_TRACE_ENABLED). Off, nothing of the tracer or the X-Ray SDK is loaded: it is
 * imported on the first traced invocation, so a cold start without tracing does not pay for it.
 */
interface Loaded {
  readonly tracer: Tracer;
  readonly handler: ReturnType<typeof captureLambdaHandler>;
}

let loading: Promise<Loaded> | undefined;
let loaded: Loaded | undefined;

const tracingOn = () => process.env.POWERTOOLS_TRACE_ENABLED?.trim().toLowerCase() === 'true';

async function load(): Promise<Loaded> {
  // A call outside any segment (a script, `invoke local`) is not an error worth a log line each time.
  process.env.AWS_XRAY_CONTEXT_MISSING ??= 'IGNORE_ERROR';
  const [{ Tracer }, { captureLambdaHandler }] = await Promise.all([
    import('@aws-lambda-powertools/tracer'),
    import('@aws-lambda-powertools/tracer/middleware'),
  ]);
  // Lambda gives every traced invocation a trace header; without one (a script, `invoke local`)
  // there is no segment to add to, and the tracer would warn at every call.
  const tracer = new Tracer({
    serviceName: 'litellm-virtual-keys',
    enabled: process.env._X_AMZN_TRACE_ID !== undefined,
  });
  // Answers carry key values: never in a trace.
  return { tracer, handler: captureLambdaHandler(tracer, { captureResponse: false }) };
}

/** The handler traced (a subsegment per invocation, the cold start annotated); registered first in a chain. */
export function tracing(): middy.MiddlewareObj {
  return {
    before: async (request) => {
      if (!tracingOn()) return;
      loading ??= load().then((done) => {
        loaded = done;
        setTracer(done.tracer);
        return done;
      });
      await (await loading).handler.before?.(request as never);
    },
    after: async (request) => {
      await loaded?.handler.after?.(request as never);
    },
    // The subsegment is flagged and closed, but not given the error: its text may quote LiteLLM
    // (the logs redact it; a trace would not).
    onError: async (request) => {
      if (!loaded) return;
      loaded.tracer.getSegment()?.addErrorFlag();
      await loaded.handler.after?.(request as never);
    },
  };
}
