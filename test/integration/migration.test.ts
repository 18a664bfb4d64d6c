import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { recordOutput, recordSecret } from '../support/checks/run-record.ts';
import { until } from '../support/fixtures/polling.ts';
import { startReady, stopReady } from '../support/fixtures/ready-process.ts';
import { LiteLlmStandIn } from '../support/stand-ins/litellm/server.ts';

/** docs/migration.md's steps, in order; the test holds the document to this list. */
const STEPS = [
  'Deploy this version with the window closed',
  'Open the window',
  'Switch catalog items to the drop-in role',
  'Dry-run the role-made sweep',
  'Run the role-made sweep',
  'Close the window',
];

/** Each step's title and the command lines of its `local stack` blocks, as written. */
function stepsOfDocument(): { title: string; commands: string[] }[] {
  const text = readFileSync('docs/migration.md', 'utf8');
  const steps = text.slice(text.indexOf('\n## Steps'), text.indexOf('\n## Going back'));
  return steps
    .split(/^### \d+\. /m)
    .slice(1)
    .map((part) => ({
      title: part.slice(0, part.indexOf('\n')).trim(),
      commands: [...part.matchAll(/```sh\n# local stack[^\n]*\n([\s\S]*?)```/g)].flatMap((block) =>
        (block[1] ?? '').trim().split('\n'),
      ),
    }));
}

const hasAnsible = spawnSync('ansible', ['--version']).status === 0;
const DAY = 86_400_000;
const MODELS = ['granite-3-2-8b-instruct', 'mistral-7b-instruct'];
const children: ChildProcess[] = [];
let standIn: LiteLlmStandIn | undefined;

after(async () => {
  for (const child of children) await stopReady(child);
  await standIn?.close();
});

/**
 * One command line of the document, run by bash with the step's variables (not synchronously: the
 * LiteLLM stand-in answers from this process), its output recorded for the leak check.
 */
async function run(line: string, env: Record<string, string>): Promise<string> {
  const child = spawn('bash', ['-c', line], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let [stdout, stderr] = ['', ''];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  recordOutput(stdout);
  recordOutput(stderr);
  assert.equal(status, 0, `${line}\n${stdout}\n${stderr}`);
  return stdout;
}

/** A command line that starts a server, ready once it says so; its output returned. */
async function start(line: string, env: Record<string, string>): Promise<string> {
  const started = await startReady('bash', ['-c', line], env, { timeoutMs: 90_000 });
  children.push(started.process);
  return started.output();
}

/** The sweep's answer in `npm run invoke`'s output: the indented JSON after npm's lines and the log's. */
const sweepAnswer = (stdout: string) =>
  (JSON.parse(stdout.slice(stdout.lastIndexOf('\n{\n') + 1)) as { role_made: Record<string, unknown> })
    .role_made;

describe('docs/migration.md on the local stack', {
  skip: hasAnsible ? false : 'ansible is not installed: apt-get install ansible-core',
}, () => {
  it('names its steps in the order this test runs them', () => {
    assert.deepEqual(
      stepsOfDocument().map((step) => step.title),
      STEPS,
    );
  });

  it('runs every local-stack block in the order written, and each step’s check holds', {
    timeout: 600_000,
  }, async () => {
    const steps = stepsOfDocument();
    const commands = (title: string) => steps.find((step) => step.title === title)?.commands ?? [];
    const masterKey = `sk-migration-${randomUUID()}`;
    recordSecret(masterKey);
    standIn = await LiteLlmStandIn.start({ masterKey });
    const live = standIn;
    // What the old role left: live and expired keys of its labs, and a key of another tool.
    const roleKey = async (guid: string, expiresIn: number, user?: string) => {
      const seeded = await live.seedKey({
        alias: user ? `virtkey-${guid}-${user}` : `virtkey-${guid}`,
        expires: new Date(Date.now() + expiresIn),
        models: MODELS,
        metadata: {
          guid,
          ...(user ? { user } : {}),
          models: MODELS.join(','),
          duration: '30d',
          created_by: 'babylon',
        },
      });
      recordSecret(seeded.raw);
    };
    await roleKey('mig-role1', 20 * DAY);
    await roleKey('mig-role2', 20 * DAY, 'user1');
    await roleKey('mig-role2', 20 * DAY, 'user2');
    await roleKey('mig-old1', -2 * DAY);
    await roleKey('mig-old2', -3 * DAY, 'user1');
    await roleKey('mig-late', 20 * DAY);
    recordSecret(
      (
        await live.seedKey({
          alias: 'virtkey-mig-tool',
          expires: new Date(Date.now() - DAY),
          metadata: { guid: 'mig-tool', created_by: 'other-tool' },
        })
      ).raw,
    );
    const holders = async (alias: string) => (await live.table.list({ key_alias: alias }, 1, 10)).rows.length;

    // 1. Deploy with the window closed: what a deploy uploads is built.
    for (const line of commands(STEPS[0] as string)) await run(line, {});

    // 2. Open the window: the local stack on this LiteLLM, the window ending soon enough to see it close.
    const windowEnd = new Date(Date.now() + 75_000);
    const token = `mig-${randomBytes(18).toString('base64url')}`;
    const [startLine] = commands(STEPS[1] as string);
    const output = await start(startLine as string, {
      WINDOW_END: windowEnd.toISOString(),
      PORT: '0',
      API_TOKEN: token,
      LITELLM_URL: live.url,
      LITELLM_MASTER_KEY: masterKey,
    });
    const apiUrl = /litellm-virtual-keys on (http:\/\/localhost:\d+)/.exec(output)?.[1] ?? '';
    const port = new URL(apiUrl).port;
    const get = async (guid: string) => {
      const answer = await fetch(`${apiUrl}/keys/${guid}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
    };
    const taken = await get('mig-role2');
    assert.equal(taken.status, 200, JSON.stringify(taken.body));
    assert.equal(taken.body.role_made, true);
    assert.deepEqual(
      (taken.body.keys as { litellm_key_alias: string }[]).map((key) => key.litellm_key_alias),
      ['virtkey-mig-role2-user1', 'virtkey-mig-role2-user2'],
    );

    // 3. A lab the old role made, destroyed through the drop-in role.
    for (const line of commands(STEPS[2] as string)) {
      const played = await run(line, {
        ROLE_GUID: 'mig-role1',
        API_URL: apiUrl,
        LITELLM_VIRTUAL_KEYS_API_TOKEN: token,
      });
      assert.match(played, /CHANGED|changed/);
      assert.ok(!played.includes(token), 'the token is not in the play’s output');
    }
    assert.equal(await holders('virtkey-mig-role1'), 0);

    // 4. The dry run lists exactly the role's expired keys and changes nothing.
    const [dryLine] = commands(STEPS[3] as string);
    const dry = sweepAnswer(await run(dryLine as string, { PORT: port }));
    assert.deepEqual(dry.would_delete, ['virtkey-mig-old1', 'virtkey-mig-old2-user1']);
    assert.equal(dry.deleted, 0);
    assert.equal(await holders('virtkey-mig-old1'), 1);

    // 5. The real run deletes them, and nothing else.
    const [realLine] = commands(STEPS[4] as string);
    const real = sweepAnswer(await run(realLine as string, { PORT: port }));
    assert.deepEqual([real.deleted, real.failed], [2, 0]);
    assert.deepEqual([await holders('virtkey-mig-old1'), await holders('virtkey-mig-old2-user1')], [0, 0]);
    assert.deepEqual(
      [
        await holders('virtkey-mig-tool'),
        await holders('virtkey-mig-late'),
        await holders('virtkey-mig-role2-user1'),
      ],
      [1, 1, 1],
    );

    assert.ok(
      Date.now() < windowEnd.getTime(),
      'steps 2 to 5 ran inside the window (a slower machine needs a longer one)',
    );

    // 6. Once the window has closed: a taken-over lab still answers; the role's other keys are left alone.
    await until(windowEnd.getTime() - Date.now() + 2_000, () => Date.now() > windowEnd.getTime(), 500);
    const [curlLine] = commands(STEPS[5] as string);
    const after = JSON.parse(
      await run(curlLine as string, { API_TOKEN: token, API_URL: apiUrl, TAKEN_GUID: 'mig-role2' }),
    ) as Record<string, unknown>;
    assert.equal(after.role_made, true);
    assert.equal((await get('mig-late')).status, 404);
    assert.equal(await holders('virtkey-mig-late'), 1);
  });
});
