import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { lambdaContext } from '../fixtures/events.ts';

export type InProcessHandler = (event: unknown, context: Context) => Promise<unknown>;

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * Lambda's Invoke (REST JSON, POST /2015-03-31/functions/{name}/invocations), reached by the real
 * SDK through AWS_ENDPOINT_URL_LAMBDA: a synchronous invoke runs the named function's handler in
 * this process with a fresh context and answers its result; a handler that throws is answered as
 * Lambda answers it, 200 with X-Amz-Function-Error: Unhandled and the error as the payload. It
 * counts invocations per function.
 */
export class LambdaStandIn {
  readonly invocations = new Map<string, number>();
  private readonly functions = new Map<string, InProcessHandler>();
  private server?: Server;

  static async start(functions: Record<string, InProcessHandler> = {}): Promise<LambdaStandIn> {
    const standIn = new LambdaStandIn();
    for (const [name, handler] of Object.entries(functions)) standIn.deploy(name, handler);
    standIn.server = createServer((req, res) => void standIn.serve(req, res));
    await new Promise<void>((resolve) => standIn.server?.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  /** The function `name` runs `handler` from now on. */
  deploy(name: string, handler: InProcessHandler): void {
    this.functions.set(name, handler);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo | undefined)?.port}`;
  }

  invocationCount(name: string): number {
    return this.invocations.get(name) ?? 0;
  }

  reset(): void {
    this.invocations.clear();
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const name = decodeURIComponent(INVOKE_PATH.exec(req.url?.split('?')[0] ?? '')?.[1] ?? '');
    const handler = req.method === 'POST' ? this.functions.get(name) : undefined;
    if (!handler) {
      return reply(
        res,
        404,
        { Type: 'User', message: `Function not found: ${name}` },
        {
          'x-amzn-errortype': 'ResourceNotFoundException',
        },
      );
    }
    if ((req.headers['x-amz-invocation-type'] ?? 'RequestResponse') !== 'RequestResponse') {
      return reply(
        res,
        400,
        { Type: 'User', message: 'only RequestResponse is modelled' },
        {
          'x-amzn-errortype': 'InvalidParameterValueException',
        },
      );
    }
    this.invocations.set(name, (this.invocations.get(name) ?? 0) + 1);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      const result = await handler(text ? JSON.parse(text) : {}, lambdaContext());
      reply(res, 200, result ?? null, { 'x-amz-executed-version': '$LATEST' });
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      reply(
        res,
        200,
        { errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') },
        { 'x-amz-executed-version': '$LATEST', 'x-amz-function-error': 'Unhandled' },
      );
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(JSON.stringify(body));
}
