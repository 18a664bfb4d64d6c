import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { labItemKey } from '../../lib/ledger/lab-record.ts';
import { probeKey } from '../support/fixtures/http.ts';
import { labCalls } from '../support/fixtures/lab-calls.ts';
import { useHarness } from '../support/harness.ts';
import { labsTableDefinition } from '../support/stand-ins/dynamodb.ts';

/**
 * The ledger restore of docs/operating.md, as far as a local stack goes: labs provisioned by the
 * stack before the restore (a process of their own, as the functions deployed then), their ledger
 * copied into a new table as a point-in-time restore makes it, the old table gone, and the functions
 * started afresh with LABS_TABLE naming the restored table, as the deploy with restoredLabsTable
 * sets it. Status, extend and destroy then work on every restored lab.
 */

const RESTORED = 'litellm-virtual-keys-test-labs-restored';
const GUIDS = ['rest1', 'rest2', 'rest3'];
const DAY = 86_400_000;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The labs the stack made before the restore: guid -> the key handed out. */
let before: Record<string, string> = {};

const { h, route, issued } = useHarness(
  { LABS_TABLE: RESTORED },
  { reset: false, setUp: () => provisionBeforeRestore().then(restoreLedger) },
);
const calls = labCalls(route, issued);

/** POST /keys for each lab by the functions as deployed before the restore: the stack's own table. */
async function provisionBeforeRestore(): Promise<void> {
  const code = `
    const { handler } = await import(${JSON.stringify(new URL('../../functions/provision.ts', import.meta.url).href)});
    const { postKeysEvent, lambdaContext } = await import(${JSON.stringify(new URL('../support/fixtures/events.ts', import.meta.url).href)});
    const { invokeHttp } = await import(${JSON.stringify(new URL('../support/fixtures/http.ts', import.meta.url).href)});
    const keys = {};
    for (const guid of ${JSON.stringify(GUIDS)}) {
      const answer = await invokeHttp(handler, postKeysEvent({ guid, package: 'ai-beginner' }), lambdaContext());
      if (answer.status !== 201) throw new Error(guid + ': ' + answer.status);
      keys[guid] = answer.body.litellm_virtual_key;
    }
    process.stdout.write('\\nKEYS ' + JSON.stringify(keys) + '\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, LABS_TABLE: h.ledger.tableName },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const [status] = (await once(child, 'exit')) as [number];
  assert.equal(status, 0, err);
  const line = out.split('\n').find((text) => text.startsWith('KEYS '));
  before = JSON.parse(line?.slice('KEYS '.length) ?? '{}') as Record<string, string>;
  for (const key of Object.values(before)) issued.add(key);
  assert.deepEqual(Object.keys(before), GUIDS);
}

const client = () =>
  new DynamoDBClient({
    endpoint: h.ledger.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'stand-in-secret' },
  });

async function waitFor(db: DynamoDBClient, table: string, state: 'ACTIVE' | 'gone'): Promise<void> {
  for (;;) {
    const status = await db
      .send(new DescribeTableCommand({ TableName: table }))
      .then((out) => out.Table?.TableStatus)
      .catch((error: Error) => (error.name === 'ResourceNotFoundException' ? 'gone' : Promise.reject(error)));
    if (status === state) return;
    await sleep(20);
  }
}

/**
 * What restore-table-to-point-in-time makes: a new table with the old one's keys and indexes and
 * every item; then the old table is lost.
 */
async function restoreLedger(): Promise<void> {
  const items = await h.ledger.scan();
  assert.ok(items.length >= GUIDS.length);
  const db = client();
  await db.send(new CreateTableCommand(labsTableDefinition(RESTORED)));
  await waitFor(db, RESTORED, 'ACTIVE');
  const doc = DynamoDBDocumentClient.from(db);
  for (let start = 0; start < items.length; start += 25) {
    const puts = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
    await doc.send(new BatchWriteCommand({ RequestItems: { [RESTORED]: puts } }));
  }
  await db.send(new DeleteTableCommand({ TableName: h.ledger.tableName }));
  await waitFor(db, h.ledger.tableName, 'gone');
  db.destroy();
}

/** A lab's item in the restored table. */
async function restoredLab(guid: string): Promise<Record<string, unknown> | undefined> {
  const db = client();
  const out = await DynamoDBDocumentClient.from(db).send(
    new GetCommand({ TableName: RESTORED, Key: labItemKey(guid), ConsistentRead: true }),
  );
  db.destroy();
  return out.Item;
}

describe('a ledger restored into a new table', () => {
  it('shows every restored lab with its key, opened from the restored ledger', async () => {
    for (const guid of GUIDS) {
      const answer = await calls.status(guid);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.state, 'active');
      const [key] = answer.body.keys as { litellm_key_id: string; litellm_virtual_key: string }[];
      assert.deepEqual(
        [key?.litellm_key_id, key?.litellm_virtual_key],
        [sha256(String(before[guid])), before[guid]],
        guid,
      );
    }
  });

  it('extends a restored lab in LiteLLM and in the restored ledger', async () => {
    const started = Date.now();
    const answer = await calls.extend('rest1', { duration: '30d' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const keyId = sha256(String(before.rest1));
    const litellmExpiry = Date.parse(`${(await h.litellm.table.get(keyId))?.expires}Z`);
    assert.ok(Math.abs(litellmExpiry - (started + 30 * DAY)) < 5000);
    const [entry] = ((await restoredLab('rest1'))?.keys ?? []) as { key_id: string; expires_at: string }[];
    assert.deepEqual([entry?.key_id, Date.parse(String(entry?.expires_at))], [keyId, litellmExpiry]);
  });

  it('destroys a restored lab: its key gone from LiteLLM, a tombstone in the restored ledger', async () => {
    const answer = await calls.destroy('rest2');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual([answer.body.deleted, answer.body.deleted_keys], [true, 1]);
    assert.equal((await probeKey(h.litellm.url, String(before.rest2))).status, 401);
    const lab = await restoredLab('rest2');
    assert.equal(lab?.lab_state, 'destroyed');
    assert.deepEqual(lab?.keys ?? [], []);
    // The other restored labs are untouched.
    assert.equal((await probeKey(h.litellm.url, String(before.rest3))).status, 200);
    assert.equal((await restoredLab('rest3'))?.lab_state, 'active');
  });

  it('provisions a new lab into the restored ledger', async () => {
    const answer = await calls.provision({ guid: 'rest4', package: 'ai-beginner' });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal((await restoredLab('rest4'))?.lab_state, 'active');
  });
});
