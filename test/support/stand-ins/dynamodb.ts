import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { parse } from 'yaml';
import { labFromItem, labItemKey, labToItem } from '../../../lib/ledger/lab-record.ts';

/** The ledger table as resources/labs-table.yml describes it: one description for the stack and the tests. */
export function labsTableDefinition(tableName: string): CreateTableCommandInput {
  const tag = (name: string) => ({ tag: `!${name}`, resolve: (value: unknown) => ({ [name]: value }) });
  const document = parse(
    readFileSync(new URL('../../../resources/labs-table.yml', import.meta.url), 'utf8'),
    {
      customTags: [tag('Ref'), tag('GetAtt'), tag('Sub')],
    },
  ) as { Resources: { LabsTable: { Properties: Record<string, unknown> } } };
  const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode } =
    document.Resources.LabsTable.Properties;
  return {
    TableName: tableName,
    AttributeDefinitions,
    KeySchema,
    GlobalSecondaryIndexes,
    BillingMode,
  } as CreateTableCommandInput;
}

/**
 * DynamoDB for the tests and `npm start`: dynalite, an in-memory implementation of its API over
 * real HTTP (reached through AWS_ENDPOINT_URL_DYNAMODB), holding the ledger's table. It runs in a
 * process of its own (its work would otherwise share the tests' event loop); in front of it, here,
 * counters per operation and scripted failures (5xx, throttling), as the other stand-ins have.
 */
export class DynamoDbStandIn {
  readonly calls = new Map<string, number>();
  private failing: { operation: string; remaining: number; kind: 'unavailable' | 'throttled' }[] = [];
  private readonly hooks = new Map<string, () => Promise<void>>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });

  private constructor(
    private readonly server: Server,
    private readonly child: ChildProcess,
    private readonly backendPort: number,
    readonly tableName: string,
  ) {}

  static async start(tableName = 'litellm-virtual-keys-test-labs'): Promise<DynamoDbStandIn> {
    const script = new URL('./dynalite-server.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    const server = createServer();
    const standIn = new DynamoDbStandIn(server, child, Number(line.toString().trim()), tableName);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void standIn.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await standIn.createTable();
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  callCount(operation?: string): number {
    if (operation) return this.calls.get(operation) ?? 0;
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  resetCounters(): void {
    this.calls.clear();
  }

  /** Run `hook` once, before the next call of `operation` is served: another client acting in between. */
  beforeNext(operation: string, hook: () => Promise<void>): void {
    this.hooks.set(operation, hook);
  }

  /** The next `count` calls of `operation` ('*' for any) fail as DynamoDB does when it cannot serve. */
  failNext(operation: string, count = 1, kind: 'unavailable' | 'throttled' = 'unavailable'): void {
    this.failing.push({ operation, remaining: count, kind });
  }

  /** What the table holds for a lab, read directly: its item and the key entries in it. */
  async lab(guid: string): Promise<{ lab?: Record<string, unknown>; keys: Record<string, unknown>[] }> {
    const client = this.client();
    const out = await DynamoDBDocumentClient.from(client).send(
      new GetCommand({ TableName: this.tableName, Key: labItemKey(guid), ConsistentRead: true }),
    );
    client.destroy();
    const lab = out.Item;
    const keys = Array.isArray(lab?.keys) ? (lab.keys as Record<string, unknown>[]) : [];
    return { ...(lab ? { lab } : {}), keys };
  }

  /**
   * Move a recorded key's expiry, as time passing would (tests move LiteLLM's expiry the same way):
   * the lab item rewritten through its declaration, so the sweep's index follows.
   */
  async setExpiry(guid: string, keyId: string, expires: Date): Promise<void> {
    const { lab: item } = await this.lab(guid);
    const lab = item ? labFromItem(item) : undefined;
    if (!lab?.keys.some((key) => key.keyId === keyId))
      throw new Error(`no recorded key ${keyId} in lab ${guid}`);
    const keys = lab.keys.map((key) =>
      key.keyId === keyId ? { ...key, expiresAt: expires.toISOString() } : key,
    );
    await this.putItems([labToItem({ ...lab, keys })], 1);
  }

  /** Every item of the table, read directly. */
  async scan(): Promise<Record<string, unknown>[]> {
    const client = this.client();
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await DynamoDBDocumentClient.from(client).send(
        new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    client.destroy();
    return items;
  }

  /** Write items directly, 25 at a time (populations for scale tests and benches). */
  async putItems(items: readonly Record<string, unknown>[], parallel = 8): Promise<void> {
    const client = this.client();
    const doc = DynamoDBDocumentClient.from(client);
    const chunks: Record<string, unknown>[][] = [];
    for (let start = 0; start < items.length; start += 25) chunks.push(items.slice(start, start + 25));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        let requests = (chunks[next++] ?? []).map((Item) => ({ PutRequest: { Item } }));
        while (requests.length > 0) {
          const out = await doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
          requests = (out.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    client.destroy();
  }

  /** An empty table again (dropped and created: dynalite takes no time for either). */
  async reset(): Promise<void> {
    this.failing = [];
    this.hooks.clear();
    this.resetCounters();
    const client = this.client();
    await client.send(new DeleteTableCommand({ TableName: this.tableName }));
    await this.settle(client, 'gone');
    client.destroy();
    await this.createTable();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
    const exited = once(this.child, 'exit');
    this.child.stdin?.end();
    await exited;
  }

  private client(): DynamoDBClient {
    return new DynamoDBClient({
      endpoint: this.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'stand-in-secret' },
    });
  }

  private async createTable(): Promise<void> {
    const client = this.client();
    await client.send(new CreateTableCommand(labsTableDefinition(this.tableName)));
    await this.settle(client, 'ACTIVE');
    client.destroy();
  }

  /**
   * dynalite answers CreateTable and DeleteTable at once and finishes them on a timer of its own;
   * on a busy machine the next request can come first, so wait for the table to be as asked.
   */
  private async settle(client: DynamoDBClient, status: 'ACTIVE' | 'gone'): Promise<void> {
    for (;;) {
      const table = await client
        .send(new DescribeTableCommand({ TableName: this.tableName }))
        .then((out) => out.Table?.TableStatus)
        .catch((error: Error) => {
          if (error.name === 'ResourceNotFoundException') return 'gone';
          throw error;
        });
      if (table === status) return;
      await setTimeout(5);
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const hook = this.hooks.get(operation);
    this.hooks.delete(operation);
    await hook?.();
    const fault = this.failing.find(
      (f) => f.remaining > 0 && (f.operation === operation || f.operation === '*'),
    );
    if (!fault) return this.forward(req, res);
    fault.remaining--;
    req.resume();
    const [status, type] =
      fault.kind === 'throttled'
        ? [400, 'com.amazonaws.dynamodb.v20120810#ThrottlingException']
        : [503, 'com.amazonaws.dynamodb.v20120810#ServiceUnavailable'];
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify({ __type: type, message: 'stand-in failure' }));
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      {
        host: '127.0.0.1',
        port: this.backendPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: this.agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
