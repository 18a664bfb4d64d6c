import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { traced } from '../tracer-state.ts';
import type { LabEventFunction, RouterConfig } from './config.ts';
import type { ForwardedEvent } from './queued-event.ts';

/** How a lab event ended: applied, or refused and already announced with `Virtual Key Failed`. */
export type Settled = 'applied' | 'rejected';

/** What a failure is named by outside the log: a type such as `UnavailableError`, never free text. */
export function errorTypeOf(type: unknown): string {
  return typeof type === 'string' && /^[A-Za-z][\w.:-]{0,63}$/.test(type) ? type : 'Error';
}

/**
 * The function failed (threw, timed out, was throttled) or could not be reached: try again later.
 * The message, which may quote the function's error text, is for the log only; `errorType` is what
 * an announcement may carry.
 */
export class LabEventRunFailed extends Error {
  override name = 'LabEventRunFailed';
  readonly errorType: string;
  constructor(message: string, errorType: unknown, options?: ErrorOptions) {
    super(message, options);
    this.errorType = errorTypeOf(errorType);
  }
}

let client: LambdaClient | undefined;

/** One client per container; region, credentials and endpoint come from the SDK's standard configuration. */
function lambda(): LambdaClient {
  client ??= traced(new LambdaClient({}));
  return client;
}

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;

function parsed(payload: Uint8Array | undefined): unknown {
  if (!payload || payload.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Run the lab event by the function that applies it, waiting for its answer (RequestResponse), with
 * the EventBridge event rebuilt from the queued one (lib/lab-events/queued-event.ts): the function
 * sees what the rule used to hand it.
 */
export async function runLabEvent(
  config: RouterConfig,
  name: LabEventFunction,
  event: ForwardedEvent,
): Promise<Settled> {
  const functionName = config.functionNames[name];
  let answer: InvokeCommandOutput;
  try {
    answer = await lambda().send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
  } catch (error) {
    const type = (error as Error).name;
    throw new LabEventRunFailed(`${name} could not be invoked: ${type}`, type, { cause: error });
  }
  const payload = parsed(answer.Payload);
  if (answer.FunctionError) {
    const type = String(field(payload, 'errorType') ?? answer.FunctionError);
    const message = String(field(payload, 'errorMessage') ?? '');
    throw new LabEventRunFailed(`${name} failed: ${type}${message ? `: ${message}` : ''}`, type);
  }
  return field(payload, 'outcome') === 'rejected' ? 'rejected' : 'applied';
}
