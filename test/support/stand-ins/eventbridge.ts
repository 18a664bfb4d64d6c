import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An entry as PutEvents received it, with its Detail parsed. */
export interface BusEntry {
  readonly source: string;
  readonly detailType: string;
  readonly busName: string;
  readonly detail: Record<string, unknown>;
  /** The Detail exactly as sent, for leak checks. */
  readonly raw: string;
}

/**
 * An EventBridge endpoint for PutEvents (AWS JSON 1.1, X-Amz-Target AWSEvents.PutEvents), reached
 * by the real SDK through AWS_ENDPOINT_URL_EVENTBRIDGE. It keeps what it receives, and can refuse
 * whole calls (500) or single entries (an ErrorCode in the answer), as the service does.
 */
export class EventBridgeStandIn {
  readonly entries: BusEntry[] = [];
  /** Every entry since start, kept across resets, for checks over a whole suite. */
  readonly history: BusEntry[] = [];
  calls = 0;
  private failCalls = 0;
  private failEntries = 0;
  private server?: Server;

  /** `onEntry` sees each accepted entry (the local stack prints them). */
  static async start(onEntry?: (entry: BusEntry) => void): Promise<EventBridgeStandIn> {
    const standIn = new EventBridgeStandIn();
    standIn.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      standIn.calls++;
      const target = String(req.headers['x-amz-target'] ?? '');
      const reply = (status: number, body: unknown, errorType?: string) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomUUID(),
          ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
        });
        res.end(JSON.stringify(body));
      };
      if (target !== 'AWSEvents.PutEvents') {
        return reply(
          400,
          { __type: 'UnknownOperationException', message: target },
          'UnknownOperationException',
        );
      }
      if (standIn.failCalls > 0) {
        standIn.failCalls--;
        return reply(500, { __type: 'InternalException', message: 'stand-in failure' }, 'InternalException');
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        Entries: { Source: string; DetailType: string; Detail: string; EventBusName?: string }[];
      };
      const results = body.Entries.map((entry) => {
        if (standIn.failEntries > 0) {
          standIn.failEntries--;
          return { ErrorCode: 'InternalFailure', ErrorMessage: 'stand-in entry failure' };
        }
        const accepted = {
          source: entry.Source,
          detailType: entry.DetailType,
          busName: entry.EventBusName ?? 'default',
          detail: JSON.parse(entry.Detail) as Record<string, unknown>,
          raw: entry.Detail,
        };
        standIn.entries.push(accepted);
        standIn.history.push(accepted);
        onEntry?.(accepted);
        return { EventId: randomUUID() };
      });
      reply(200, {
        FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length,
        Entries: results,
      });
    });
    await new Promise<void>((resolve) => standIn.server?.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo | undefined)?.port}`;
  }

  of(detailType: string): BusEntry[] {
    return this.entries.filter((entry) => entry.detailType === detailType);
  }

  /** The next `count` PutEvents calls fail as a whole. */
  failNextCalls(count: number): void {
    this.failCalls = count;
  }

  /** The next `count` entries are refused with an ErrorCode. */
  failNextEntries(count: number): void {
    this.failEntries = count;
  }

  reset(): void {
    this.entries.length = 0;
    this.calls = 0;
    this.failCalls = 0;
    this.failEntries = 0;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
