import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chooseStack, liveStacks, stackFile } from '../../scripts/local-stacks.ts';
import { isAlive } from '../../scripts/process-alive.ts';
import { recordOutput, recordSecret } from '../support/checks/run-record.ts';
import { runServerless } from '../support/fixtures/package-service.ts';
import { refused, until } from '../support/fixtures/polling.ts';
import { startReady, stopReady } from '../support/fixtures/ready-process.ts';

/** `npm start` in its own process group, so stopping it stops tsx and the stack under npm too. */
interface Stack {
  readonly process: ChildProcess;
  readonly output: () => string;
  readonly base: string;
  readonly port: string;
  readonly token: string;
  /** The environment and --param line the stack prints for `osls invoke local`. */
  readonly invokeEnv: Record<string, string>;
  readonly invokeParam: string;
}

const stacks: Stack[] = [];

async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const { process: child, output, base } = await startReady('npm', ['start'], { PORT: '0', ...env });
  const invoke = /^ {2}(.*) npx osls invoke local --param="([^"]+)"/m.exec(output());
  const stack: Stack = {
    process: child,
    output,
    base,
    port: new URL(base).port,
    token: /Dev API token: (\S+)/.exec(output())?.[1] ?? '',
    invokeEnv: Object.fromEntries(
      (invoke?.[1] ?? '').split(' ').map((pair) => pair.split('=') as [string, string]),
    ),
    invokeParam: invoke?.[2] ?? '',
  };
  stacks.push(stack);
  return stack;
}

/** Stop the whole process group, as Ctrl-C does; true once the API no longer answers. */
async function stopStack(stack: Stack): Promise<boolean> {
  await stopReady(stack.process);
  for (let attempt = 0; attempt < 50; attempt++) {
    const closed = await fetch(stack.base).then(
      () => false,
      () => true,
    );
    if (closed) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

after(async () => {
  await Promise.all(stacks.map(stopStack));
});

/** The processes of a stack's group (npm, tsx, the stack and its children), still running. */
function liveGroup(stack: Stack): number[] {
  const listed = spawnSync('ps', ['-o', 'pid=', '-g', String(stack.process.pid)], { encoding: 'utf8' });
  return listed.stdout
    .split('\n')
    .map(Number)
    .filter((pid) => pid > 0 && isAlive(pid));
}

/** `npm run invoke`, on the stack on `port`: several stacks may be running. */
function npmInvoke(port: string | undefined, ...args: string[]) {
  const run = spawnSync('npm', ['run', '--silent', 'invoke', '--', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PORT: port },
    timeout: 60_000,
  });
  // The printed result may carry a key (an HTTP provision's answer); the log lines before it may not.
  recordOutput(`${run.stdout.slice(0, resultStart(run.stdout))}\n${run.stderr}`);
  return run;
}

/** Where `npm run invoke`'s result starts: the function's log lines come first, the pretty-printed result last. */
const resultStart = (stdout: string) => (stdout.startsWith('{\n') ? 0 : stdout.lastIndexOf('\n{\n') + 1);

async function call(stack: Stack, method: string, path: string, body?: unknown, token = stack.token) {
  const response = await fetch(`${stack.base}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('npm start', () => {
  /** One stack for the tests up to the invoke test, which stops it. */
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });

  it('serves the API behind the authorizer: provision, read, extend and destroy with the dev token', async () => {
    assert.match(stack.token, /^dev-[A-Za-z0-9_-]{24}$/);
    for (const line of ['-X POST', '/keys/demo1', '/keys/demo1/extend', '-X DELETE']) {
      assert.ok(
        stack.output().includes(`curl -s -H 'Authorization: Bearer ${stack.token}' `) &&
          stack.output().includes(line),
        `a ready-to-paste curl line with ${line}`,
      );
    }

    assert.deepEqual(await call(stack, 'POST', '/keys', { guid: 'local1' }, ''), {
      status: 401,
      body: { message: 'Unauthorized' },
    });
    assert.deepEqual(await call(stack, 'POST', '/keys', { guid: 'local1' }, `${stack.token}x`), {
      status: 403,
      body: { message: 'Forbidden' },
    });

    const created = await call(stack, 'POST', '/keys', { guid: 'local1', package: 'ai-beginner' });
    assert.equal(created.status, 201);
    assert.match(String(created.body.litellm_virtual_key), /^sk-/);
    recordSecret(String(created.body.litellm_virtual_key));
    // The printed chat line, with the key and base URL the provision answered, as a lab user uses them.
    const chatLine =
      /Use its key: +curl -s -H 'Authorization: Bearer <its litellm_virtual_key>' (\S+)\/v1\/chat\/completions -d '([^']+)'/.exec(
        stack.output(),
      );
    assert.equal(`${chatLine?.[1]}/v1`, created.body.litellm_api_base_url);
    const chat = await fetch(`${created.body.litellm_api_base_url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.body.litellm_virtual_key}` },
      body: chatLine?.[2],
    });
    assert.equal(chat.status, 200);
    assert.equal(((await chat.json()) as { model: string }).model, 'granite-3-2-8b-instruct');
    const status = await call(stack, 'GET', '/keys/local1');
    assert.equal(status.status, 200);
    const [key] = status.body.keys as Record<string, unknown>[];
    assert.equal(key?.litellm_virtual_key, created.body.litellm_virtual_key);
    assert.deepEqual(key?.litellm_available_models, ['granite-3-2-8b-instruct']);
    const extended = await call(stack, 'POST', '/keys/local1/extend', { duration: '20d' });
    assert.equal(extended.status, 200);
    assert.ok(Date.parse(String(extended.body.litellm_key_expires)) > Date.now() + 19 * 86_400_000);
    const destroyed = await call(stack, 'DELETE', '/keys/local1');
    assert.deepEqual([destroyed.status, destroyed.body.deleted, destroyed.body.deleted_keys], [200, true, 1]);
    assert.equal((await call(stack, 'GET', '/keys/local1')).status, 404);

    const announced = [...stack.output().matchAll(/^event: (Virtual Key \w+) /gm)].map((m) => m[1]);
    assert.deepEqual(announced, ['Virtual Key Provisioned', 'Virtual Key Extended', 'Virtual Key Destroyed']);
    assert.ok(!stack.output().includes(String(created.body.litellm_virtual_key).slice(3)), 'no key printed');
  });

  it('runs two stand-in proxies as the targets default and east, with a curl line for each', async () => {
    const output = stack.output();
    assert.match(output, /LiteLLM stand-in, target default, on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(
      output,
      /LiteLLM stand-in, target east, on http:\/\/127\.0\.0\.1:\d+ \(models: granite-3-2-8b-instruct, mistral-7b-instruct, qwen-east-14b\)/,
    );
    assert.ok(output.includes(`-d '{"guid":"demo2","package":"ai-beginner","target":"east"}'`));
    assert.ok(output.includes(`/keys/demo1/move -d '{"target":"east"}'`));

    const onEast = await call(stack, 'POST', '/keys', {
      guid: 'local2',
      target: 'east',
      models: ['qwen-east-14b'],
    });
    const onDefault = await call(stack, 'POST', '/keys', { guid: 'local3', package: 'ai-beginner' });
    const moved = await call(stack, 'POST', '/keys/local3/move', { target: 'east' });
    for (const answer of [onEast, onDefault, moved]) recordSecret(String(answer.body.litellm_virtual_key));

    assert.deepEqual([onEast.status, onEast.body.litellm_target], [201, 'east']);
    assert.deepEqual([onDefault.status, onDefault.body.litellm_target], [201, 'default']);
    assert.deepEqual(
      [moved.status, moved.body.litellm_target, moved.body.moved_from],
      [200, 'east', 'default'],
    );
    for (const guid of ['local2', 'local3'])
      assert.equal((await call(stack, 'DELETE', `/keys/${guid}`)).status, 200);
  });

  it('says in one line that the port is busy, and how to choose another', () => {
    const port = new URL(stack.base).port;
    const second = spawnSync('npm', ['start'], {
      encoding: 'utf8',
      env: { ...process.env, PORT: port },
      timeout: 60_000,
    });
    assert.equal(second.status, 1);
    const said = second.stderr
      .trim()
      .split('\n')
      .filter((line) => !line.startsWith('npm '));
    assert.deepEqual(said, [
      `Port ${port} is in use (another npm start?): PORT=0 npm start picks a free one.`,
    ]);
    assert.doesNotMatch(second.stdout + second.stderr, /EADDRINUSE|\n\s+at /);
  });

  it('answers a malformed URL with 400 and keeps serving', async () => {
    const broken = await fetch(`${stack.base}/keys/%E0%A4%A`, {
      headers: { authorization: `Bearer ${stack.token}` },
    });
    assert.deepEqual([broken.status, await broken.json()], [400, { message: 'Bad Request' }]);
    assert.equal((await call(stack, 'GET', '/keys/nolab')).status, 404);
  });

  it('runs every sample through `npm run invoke`, the sweep dry and for real', async () => {
    const invoke = (...args: string[]) => npmInvoke(stack.port, ...args);
    const result = (run: ReturnType<typeof invoke>) => {
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(run.stdout.slice(resultStart(run.stdout))) as Record<string, unknown>;
    };
    const run = (fn: string, sample?: string) => {
      const answer = result(sample ? invoke(fn, sample) : invoke(fn));
      // An HTTP provision's answer carries the key: it is a secret for every log line of the run.
      const key =
        typeof answer.body === 'string' ? /"litellm_virtual_key":"([^"]+)"/.exec(answer.body) : null;
      if (key?.[1]) recordSecret(key[1]);
      return answer;
    };
    const body = (result: Record<string, unknown>) =>
      JSON.parse(String(result.body)) as Record<string, unknown>;

    const runs: [string, string, (result: Record<string, unknown>) => void][] = [
      ['provision', 'http-post-keys.json', (r) => assert.equal(r.statusCode, 201)],
      ['status', 'http-get-keys.json', (r) => assert.equal((body(r).keys as unknown[]).length, 1)],
      ['extend', 'http-post-extend.json', (r) => assert.equal(r.statusCode, 200)],
      [
        'move',
        'http-post-move.json',
        (r) =>
          assert.deepEqual(
            [r.statusCode, body(r).litellm_target, body(r).moved_from],
            [200, 'east', 'default'],
          ),
      ],
      ['destroy', 'http-delete-keys.json', (r) => assert.equal(body(r).deleted, true)],
      ['provision', 'eventbridge-lab-provisioned.json', (r) => assert.equal(r.outcome, 'created')],
      [
        'provision',
        'eventbridge-lab-provisioned-workshop.json',
        (r) =>
          assert.deepEqual(r.aliases, ['virtkey-ws42-user1', 'virtkey-ws42-user2', 'virtkey-ws42-user3']),
      ],
      ['extend', 'eventbridge-lab-extended.json', (r) => assert.equal(r.outcome, 'extended')],
      ['destroy', 'eventbridge-lab-destroyed.json', (r) => assert.equal(r.outcome, 'destroyed')],
      ['sweep', 'invoke-sweep-dry-run.json', (r) => assert.deepEqual([r.dry_run, r.deleted], [true, 0])],
      ['sweep', 'schedule-sweep.json', (r) => assert.equal(r.dry_run, false)],
      // The cut-over's role-made sweep, refused on a stack without the window (docs/migration.md).
      ...(['invoke-sweep-role-made-dry-run.json', 'invoke-sweep-role-made.json'] as const).map(
        (sample) =>
          [
            'sweep',
            sample,
            (r: Record<string, unknown>) => assert.deepEqual([r.outcome, r.status], ['rejected', 400]),
          ] as [string, string, (result: Record<string, unknown>) => void],
      ),
      [
        'authorizer',
        'http-authorizer-request.json',
        (r) =>
          assert.deepEqual(r, {
            isAuthorized: true,
            context: { client: 'dev', scopes: 'provision read read-key extend destroy list all-labs' },
          }),
      ],
    ];
    assert.deepEqual(
      runs.map(([, sample]) => sample).sort(),
      readdirSync('events').sort(),
      'every sample is run',
    );
    for (const [fn, sample, check] of runs) check(run(fn, sample));
    // Without a sample, each function takes its own; the sweep then runs for real.
    assert.equal(run('sweep').dry_run, false);
    const unknown = invoke('teleport');
    assert.equal(unknown.status, 1);
    assert.match(
      unknown.stderr,
      /^usage: npm run invoke -- <function> \[<sample>\]; functions: authorizer, provision/m,
    );
    assert.match(
      invoke('sweep', 'invoke-sweep-dry-run.json').stderr,
      new RegExp(`^Using the local stack on ${stack.base} \\(pid \\d+\\)\\.$`, 'm'),
    );
    assert.ok(existsSync(stackFile(Number(stack.port))));
    assert.equal(await stopStack(stack), true);
    assert.equal(existsSync(stackFile(Number(stack.port))), false, 'the stack removes its file');
    const alone = invoke('sweep');
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, new RegExp(`^No local stack is running on port ${stack.port}`, 'm'));
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops on ${signal} to the npm process alone, freeing its port and removing its file`, async () => {
      const stack = await startStack();
      const group = liveGroup(stack);
      assert.ok(group.length >= 3, `npm, tsx and the stack run: ${group}`);
      assert.ok(existsSync(stackFile(Number(stack.port))));
      // Only npm itself, as scripts, CI and IDE stop buttons do: not the process group.
      process.kill(stack.process.pid as number, signal);
      assert.ok(await until(5_000, () => refused(stack.base)), `the server still answers on ${stack.base}`);
      await until(5_000, () => liveGroup(stack).length === 0);
      assert.deepEqual(liveGroup(stack), [], 'npm, tsx and the stack have all ended');
      assert.equal(existsSync(stackFile(Number(stack.port))), false);
    });
  }

  it('keeps a file per stack, and `npm run invoke` refuses to guess between two', async () => {
    const [first, second] = await Promise.all([startStack(), startStack()]);
    for (const stack of [first, second]) assert.ok(existsSync(stackFile(Number(stack.port))));
    const unnamed = npmInvoke(undefined, 'sweep', 'invoke-sweep-dry-run.json');
    assert.equal(unnamed.status, 1);
    assert.match(
      unnamed.stderr,
      new RegExp(
        `^\\d+ local stacks are running, on ports [\\d, ]*\\b(${first.port}\\b.*\\b${second.port}|${second.port}\\b.*\\b${first.port})\\b[\\d, ]*: name one with PORT=<port> npm run invoke -- \\.\\.\\.$`,
        'm',
      ),
    );
    for (const stack of [first, second]) {
      const named = npmInvoke(stack.port, 'sweep', 'invoke-sweep-dry-run.json');
      assert.equal(named.status, 0, named.stderr);
      assert.match(
        named.stderr,
        new RegExp(`^Using the local stack on ${stack.base} \\(pid \\d+\\)\\.$`, 'm'),
      );
    }
    // Each stack's own ledger: a lab provisioned on the first is not on the second.
    const provisioned = npmInvoke(first.port, 'provision', 'eventbridge-lab-provisioned.json');
    assert.equal(provisioned.status, 0, provisioned.stderr);
    assert.equal((await call(first, 'GET', '/keys/def34')).status, 200);
    assert.equal((await call(second, 'GET', '/keys/def34')).status, 404);
    for (const stack of [first, second]) assert.equal(await stopStack(stack), true);
  });

  it('chooses the only live stack, the one named by PORT, and forgets the files of dead ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-stacks-'));
    try {
      const stack = (port: number, pid: number) => {
        const state = { pid, port, base: `http://localhost:${port}`, token: 't', env: {} };
        writeFileSync(join(dir, stackFile(port)), JSON.stringify(state));
        return state;
      };
      const live = stack(3001, process.pid);
      stack(3002, 2 ** 22 + 1);
      assert.deepEqual(liveStacks(dir), [live]);
      assert.deepEqual(readdirSync(dir), [stackFile(3001)], 'the dead stack’s file is removed');
      assert.deepEqual(chooseStack([live], undefined), live);
      assert.deepEqual(chooseStack([live], '3001'), live);
      assert.equal(chooseStack([live], '3002'), 'No local stack is running on port 3002 (running: 3001).');
      assert.equal(
        chooseStack([], undefined),
        'No local stack is running: start one with `npm start` in another terminal.',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says in one line what is wrong with PORT, or a proxy without its master key', () => {
    const start = (env: Record<string, string>) =>
      spawnSync('npm', ['start'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    const said = (run: ReturnType<typeof start>) =>
      run.stderr
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('npm '));
    for (const port of ['abc', '70000', '-1', '3000x']) {
      const run = start({ PORT: port });
      assert.equal(run.status, 1);
      assert.deepEqual(said(run), [
        `PORT must be a port number from 0 to 65535 (0 picks a free one), not "${port}".`,
      ]);
    }
    const run = start({ PORT: '0', LITELLM_URL: 'https://litellm.example.com', LITELLM_MASTER_KEY: '' });
    assert.equal(run.status, 1);
    assert.deepEqual(said(run), [
      'LITELLM_URL is set, so LITELLM_MASTER_KEY must hold that proxy’s master key; it is not set.',
    ]);
    assert.doesNotMatch(run.stdout, /Ready\./);
  });

  it('refuses at start a token the authorizer would ignore, saying why', () => {
    const run = spawnSync('npm', ['start'], {
      encoding: 'utf8',
      env: { ...process.env, API_TOKEN: 'abc', PORT: '0' },
      timeout: 60_000,
    });
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /^API_TOKEN must be at least 16 characters of A-Z a-z 0-9 - \. _ ~ \+ \/ \(a bearer token\)/m,
    );
    assert.doesNotMatch(run.stdout, /Ready\./);
  });

  it('runs a sample through `serverless invoke local` with the line the stack prints', async () => {
    const stack = await startStack();
    const invoke = (fn: string, sample: string) => {
      const run = runServerless(
        ['invoke', 'local', `--param=${stack.invokeParam}`, '--function', fn, '--path', `events/${sample}`],
        { env: stack.invokeEnv, timeout: 60_000 },
      );
      assert.equal(run.status, 0, `invoke local ${fn} ${sample}:\n${run.stdout}\n${run.stderr}`);
      const isLog = (line: string) => line.startsWith('{"level":') || line.startsWith('{"_aws":');
      const lines = run.stdout.split('\n');
      recordOutput(`${lines.filter(isLog).join('\n')}\n${run.stderr}`);
      const result = JSON.parse(lines.filter((line) => !isLog(line)).join('\n')) as Record<string, unknown>;
      // An HTTP provision's answer carries the key: it is a secret for every log line of the run.
      const key =
        typeof result.body === 'string' ? /"litellm_virtual_key":"([^"]+)"/.exec(result.body) : null;
      if (key?.[1]) recordSecret(key[1]);
      return result;
    };
    // The line the stack prints works; `npm run invoke` runs every sample (above), without bundling.
    // A lab event runs as of now: after the lab's destroy, its sample (a fixed, older time) is not stale.
    assert.equal(invoke('provision', 'eventbridge-lab-provisioned.json').outcome, 'created');
    const destroyed = npmInvoke(stack.port, 'destroy', 'eventbridge-lab-destroyed.json');
    assert.equal(destroyed.status, 0, destroyed.stderr);
    assert.equal(invoke('provision', 'eventbridge-lab-provisioned.json').outcome, 'created');
    assert.equal(await stopStack(stack), true);
  });
});
