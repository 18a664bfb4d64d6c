import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type AwsJsonBody = Record<string, unknown>;

/** A service error as the AWS JSON 1.1 protocol answers it: `__type`, `message`, and a status. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * An AWS service on loopback speaking the JSON 1.1 protocol (X-Amz-Target `<prefix>.<Operation>`),
 * as the real SDK reaches it through its AWS_ENDPOINT_URL_<SERVICE>: each call counted by operation
 * and answered by `handle`; an AwsError it throws is the service's error answer, anything else the
 * service's internal error (500).
 */
export abstract class AwsJsonStandIn {
  readonly calls = new Map<string, number>();
  #server?: Server;

  /** `TrentService`, `secretsmanager`: what X-Amz-Target names before the operation. */
  protected abstract readonly targetPrefix: string;
  /** The error type of a failure the stand-in did not mean. */
  protected abstract readonly internalError: string;
  /** One call's answer; throws an AwsError for an error answer. */
  protected abstract handle(operation: string, body: AwsJsonBody): AwsJsonBody;

  protected async listen(): Promise<void> {
    this.#server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    const address = this.#server?.address() as AddressInfo | undefined;
    return `http://127.0.0.1:${address?.port}`;
  }

  callCount(operation?: string): number {
    if (operation) return this.calls.get(operation) ?? 0;
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const operation = String(req.headers['x-amz-target'] ?? '').replace(`${this.targetPrefix}.`, '');
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as AwsJsonBody;
      reply(res, 200, this.handle(operation, body));
    } catch (error) {
      const aws = error instanceof AwsError ? error : new AwsError(this.internalError, String(error), 500);
      reply(res, aws.status, { __type: aws.type, message: aws.message }, aws.type);
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(JSON.stringify(body));
}
