/**
 * The drop-in role rhpds.litellm_virtual_keys.ocp4_workload_litellm_virtual_keys under real
 * `ansible-playbook`: the requests its variables make (against a recorder), then provision, rerun,
 * extend, destroy and errors against `npm start`, with the user info it sends compared, call by call
 * and field by field, with what the old role sent.
 */
import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ansibleMissing,
  type RoleRun,
  runRole,
  runUserInfoAction,
  type UserInfoCall,
} from '../support/ansible/role-runs.ts';
import { recordOutput, recordSecret } from '../support/checks/run-record.ts';
import { startReady, stopReady } from '../support/fixtures/ready-process.ts';

const skip = ansibleMissing();

/** The old role's inputs for the single lab and AgnosticD's: accepted, never used. */
const MASTER_KEY = `sk-old-role-master-${randomBytes(12).toString('hex')}`;
recordSecret(MASTER_KEY);

/** A run whose output the leak check reads; the run itself is returned. */
function recorded(run: RoleRun): RoleRun {
  recordOutput(run.output);
  return run;
}

const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// The recorder: an HTTP server in place of the service that keeps every request and refuses it.
// ---------------------------------------------------------------------------------------------

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/** The guid a request is about: in its body for POST /keys, in its path otherwise. */
const guidOf = (seen: Seen) =>
  (seen.body as { guid?: string } | undefined)?.guid ?? new URL(seen.url, 'http://x').pathname.split('/')[2];

async function startRecorder() {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      seen.push(request);
      const guid = guidOf(request) ?? '';
      const problem = (status: number, title: string, detail: string) =>
        res
          .writeHead(status, { 'content-type': 'application/problem+json' })
          .end(JSON.stringify({ type: 'urn:litellm-virtual-keys:problem:test', title, status, detail }));
      if (guid.startsWith('busy')) return problem(503, 'Dependency unavailable', 'LiteLLM answered 503');
      if (guid.startsWith('gateway'))
        return res.writeHead(504, { 'content-type': 'text/plain' }).end('Gateway Timeout');
      if (guid.startsWith('reset')) return req.socket.destroy();
      // Some other server at a wrong URL: a 200 page, or a problem that echoes what it was sent.
      if (guid.startsWith('html'))
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>welcome</html>');
      if (guid.startsWith('echo'))
        return problem(400, 'Bad request', `you sent ${String(req.headers.authorization)}`);
      problem(400, 'Invalid request', 'recorded by the test');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// ---------------------------------------------------------------------------------------------
// The local stack: `npm start` in its own process group, as test/integration/local-stack.test.ts runs it.
// ---------------------------------------------------------------------------------------------

interface LocalStack {
  readonly process: ChildProcess;
  readonly base: string;
  /** The public URL of the target `default`: the lab's litellm_api_endpoint. */
  readonly endpoint: string;
}

async function startStack(token: string): Promise<LocalStack> {
  const {
    process: child,
    output,
    base,
  } = await startReady('npm', ['start'], { PORT: '0', API_TOKEN: token }, { hide: token, record: false });
  return {
    process: child,
    base,
    endpoint: /LiteLLM stand-in, target default, on (http:\/\/\S+)/.exec(output())?.[1] ?? '',
  };
}

/** A key as `GET /keys/{guid}` shows it to a client with `read-key`. */
interface StatusKey {
  readonly litellm_key_alias: string;
  readonly litellm_key_id: string;
  readonly litellm_available_models: string[];
  readonly litellm_key_expires: string;
  readonly litellm_virtual_key: string;
  readonly user?: string;
}

// ---------------------------------------------------------------------------------------------
// What the old role sent through agnosticd_user_info, for a lab's keys as the service holds them.
// ---------------------------------------------------------------------------------------------

/** The data every call of the old role's carried about the lab: its endpoint, models and term. */
const labData = (endpoint: string, models: readonly string[], duration: string) => ({
  litellm_api_endpoint: endpoint,
  litellm_api_base_url: `${endpoint}/v1`,
  litellm_available_models: models,
  litellm_available_models_list: models.join(', '),
  litellm_key_duration: duration,
});

/** A single-user lab (release 1.3's wording): four messages, the catalog item's own, then the key's data. */
function oldRoleSingleUserInfo(
  endpoint: string,
  key: StatusKey,
  duration: string,
  extraMessages: readonly string[],
): UserInfoCall[] {
  const models = key.litellm_available_models;
  return [
    { msg: `LiteMaaS API Base URL: ${endpoint}/v1` },
    { msg: `LiteMaaS Virtual Key: ${key.litellm_virtual_key}` },
    { msg: `Available Models: ${models.join(', ')}` },
    { msg: `Key Duration: ${duration}` },
    ...extraMessages.map((msg) => ({ msg })),
    {
      data: {
        ...labData(endpoint, models, duration),
        litellm_virtual_key: key.litellm_virtual_key,
        litellm_key_alias: key.litellm_key_alias,
        litellm_key_id: key.litellm_key_id,
      },
    },
  ];
}

/**
 * A multi-user lab: each user's own data, a summary, then the lab's data with every user's key and
 * the first user's under the single-user names. `keys` in the users' order.
 */
function oldRoleMultiUserInfo(
  endpoint: string,
  keys: readonly (StatusKey & { user: string })[],
  duration: string,
  emailDomain: string,
): UserInfoCall[] {
  const models = keys[0]?.litellm_available_models ?? [];
  const email = (key: { user: string }) => `${key.user}@${emailDomain}`;
  const shared = labData(endpoint, models, duration);
  const first = keys[0] as StatusKey;
  return [
    ...keys.map((key) => ({
      user: key.user,
      data: {
        ...shared,
        litellm_virtual_key: key.litellm_virtual_key,
        litellm_key_alias: key.litellm_key_alias,
        litellm_key_id: key.litellm_key_id,
        litellm_user_email: email(key),
      },
    })),
    { msg: `LiteLLM API Endpoint: ${endpoint}/v1` },
    { msg: `Created ${keys.length} virtual keys` },
    { msg: `Available Models: ${models.join(', ')}` },
    { msg: `Key Duration: ${duration}` },
    {
      data: {
        ...Object.fromEntries(
          keys.flatMap((key) => [
            [`litellm_${key.user}_virtual_key`, key.litellm_virtual_key],
            [`litellm_${key.user}_key_alias`, key.litellm_key_alias],
            [`litellm_${key.user}_key_id`, key.litellm_key_id],
            [`litellm_${key.user}_user_email`, email(key)],
          ]),
        ),
        ...shared,
        litellm_user_count: keys.length,
        litellm_virtual_keys: keys.map((key) => key.litellm_virtual_key),
        litellm_key_aliases: keys.map((key) => key.litellm_key_alias),
        litellm_key_ids: keys.map((key) => key.litellm_key_id),
        litellm_user_ids: keys.map(email),
        litellm_virtual_key: first.litellm_virtual_key,
        litellm_key_alias: first.litellm_key_alias,
        litellm_key_id: first.litellm_key_id,
      },
    },
  ];
}

/** Runs `work` over `items`, at most `limit` at a time (each is an ansible-playbook process). */
async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

describe('the drop-in Ansible role', () => {
  const token = `ansible-role-${randomBytes(18).toString('base64url')}`;
  recordSecret(token);

  it('has a stand-in for agnosticd_user_info that takes and refuses what AgnosticD’s does, and records each call', {
    skip,
  }, async () => {
    const [shown, perUser, both, notDict, unknown] = await Promise.all(
      [
        { msg: 'Hello' },
        { user: 'user1', msg: 'Your own', data: { seat: 1 } },
        { msg: 'a', body: 'b' },
        { data: 'not a dictionary' },
        { msg: 'a', title: 'b' },
      ].map(runUserInfoAction),
    );
    assert.match(shown?.output ?? '', /"msg": "user\.info: Hello"/);
    assert.deepEqual(shown?.recorded, [{ msg: 'Hello' }]);
    assert.deepEqual(perUser?.recorded, [{ user: 'user1', msg: 'Your own', data: { seat: 1 } }]);
    assert.doesNotMatch(perUser?.output ?? '', /user\.info/, 'a user’s message is not shown as the lab’s');
    assert.match(both?.output ?? '', /"msg": "msg and body are mutually exclusive"/);
    assert.match(notDict?.output ?? '', /"msg": "data must be a dictionary of name\/value pairs"/);
    assert.match(unknown?.output ?? '', /Invalid options for agnosticd_user_info: title/);
    assert.deepEqual(
      [both, notDict, unknown].map((run) => [run?.status, run?.recorded]),
      [
        [2, []],
        [2, []],
        [2, []],
      ],
    );
  });

  describe('sends the service what the old role’s variables ask for', () => {
    let recorder: Awaited<ReturnType<typeof startRecorder>>;
    before(async () => {
      if (!skip) recorder = await startRecorder();
    });
    after(async () => {
      await recorder?.close();
    });

    /** AgnosticD's variables every old catalog item passes, whatever its keys. */
    const oldRoleInputs = { litellm_url: 'https://litellm.old.example.com', litellm_master_key: MASTER_KEY };
    const defaultMetadata = { created_by: 'babylon', environment: 'sandbox', catalog_item: 'unknown' };

    const cases: {
      name: string;
      vars: Record<string, unknown>;
      playbook?: 'rhpds.litellm_virtual_keys.extend_key';
      request: { method: string; path: string; body?: unknown };
    }[] = [
      {
        name: 'a subscription package, with the metadata the old role put on its key',
        vars: {
          ACTION: 'create',
          guid: 'map-package',
          ocp4_workload_litellm_virtual_keys_subscription_package: 'ai-developer',
          ocp4_workload_litellm_virtual_keys_metadata: { created_by: 'babylon' },
          env_type: 'ocp4-cluster',
          catalog_item: 'ai-workshop',
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: {
            guid: 'map-package',
            package: 'ai-developer',
            metadata: { created_by: 'babylon', environment: 'ocp4-cluster', catalog_item: 'ai-workshop' },
          },
        },
      },
      {
        name: 'the package custom: its models, 30d when no custom duration is set, and a budget of 0',
        vars: {
          ACTION: 'provision',
          guid: 'map-custom',
          ocp4_workload_litellm_virtual_keys_subscription_package: 'custom',
          ocp4_workload_litellm_virtual_keys_custom_models: ['granite-3-2-8b-instruct', 'llama-scout-17b'],
          ocp4_workload_litellm_virtual_keys_max_budget: 0,
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: {
            guid: 'map-custom',
            models: ['granite-3-2-8b-instruct', 'llama-scout-17b'],
            duration: '30d',
            max_budget: 0,
            metadata: defaultMetadata,
          },
        },
      },
      {
        name: 'the later versions’ models and duration, a budget and the owner’s e-mail',
        vars: {
          ACTION: 'provision',
          guid: 'map-models',
          ocp4_workload_litellm_virtual_keys_models: ['mistral-7b-instruct'],
          ocp4_workload_litellm_virtual_keys_duration: '14d',
          ocp4_workload_litellm_virtual_keys_max_budget: 25,
          email: 'someone@redhat.com',
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: {
            guid: 'map-models',
            models: ['mistral-7b-instruct'],
            duration: '14d',
            max_budget: 25,
            user_id: 'someone@redhat.com',
            metadata: defaultMetadata,
          },
        },
      },
      {
        name: 'the catalog runtime in hours, over the duration of the package and of the variables',
        vars: {
          ACTION: 'provision',
          guid: 'map-runtime',
          ocp4_workload_litellm_virtual_keys_subscription_package: 'custom',
          ocp4_workload_litellm_virtual_keys_custom_models: ['granite-3-2-8b-instruct'],
          ocp4_workload_litellm_virtual_keys_custom_duration: '90d',
          agnosticd_user_info: { runtime: 12 },
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: {
            guid: 'map-runtime',
            models: ['granite-3-2-8b-instruct'],
            duration: '12h',
            metadata: defaultMetadata,
          },
        },
      },
      {
        name: 'nothing about models: the service’s default package',
        vars: {
          ACTION: 'provision',
          guid: 'map-nothing',
          ocp4_workload_litellm_virtual_keys_max_budget: null,
        },
        request: { method: 'POST', path: '/keys', body: { guid: 'map-nothing', metadata: defaultMetadata } },
      },
      {
        name: 'a multi-user lab of num_users users (and no owner e-mail)',
        vars: {
          ACTION: 'provision',
          guid: 'map-users',
          ocp4_workload_litellm_virtual_keys_multi_user: true,
          num_users: 3,
          email: 'someone@redhat.com',
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: { guid: 'map-users', users: ['user1', 'user2', 'user3'], metadata: defaultMetadata },
        },
      },
      {
        name: 'a multi-user lab of AgnosticD’s workload user count and base name',
        vars: {
          ACTION: 'provision',
          guid: 'map-students',
          ocp4_workload_litellm_virtual_keys_multi_user: 'true',
          ocp4_workload_user_count: 2,
          ocp4_workload_user_base: 'student',
        },
        request: {
          method: 'POST',
          path: '/keys',
          body: { guid: 'map-students', users: ['student1', 'student2'], metadata: defaultMetadata },
        },
      },
      {
        name: 'a destroy with force_db_delete',
        vars: {
          ACTION: 'destroy',
          guid: 'map-force',
          ocp4_workload_litellm_virtual_keys_force_db_delete: true,
        },
        request: { method: 'DELETE', path: '/keys/map-force?force_db_delete=true' },
      },
      {
        name: 'a destroy without it (remove): the deployment’s setting',
        vars: { ACTION: 'remove', guid: 'map-destroy' },
        request: { method: 'DELETE', path: '/keys/map-destroy' },
      },
      {
        name: 'the extend playbook: a week without a runtime',
        vars: { guid: 'map-week' },
        playbook: 'rhpds.litellm_virtual_keys.extend_key',
        request: { method: 'POST', path: '/keys/map-week/extend', body: { duration: '168h' } },
      },
      {
        name: 'the extend playbook: the catalog runtime',
        vars: { guid: 'map-runtime-extend', agnosticd_user_info: { runtime: 6 } },
        playbook: 'rhpds.litellm_virtual_keys.extend_key',
        request: { method: 'POST', path: '/keys/map-runtime-extend/extend', body: { duration: '6h' } },
      },
    ];

    it('maps each set of variables onto one request, with the token and never the master key', {
      skip,
    }, async () => {
      const runs = await eachLimited(cases, 4, async (c) =>
        recorded(
          await runRole(
            { ...oldRoleInputs, ...c.vars },
            { apiUrl: recorder.url, token, ...(c.playbook ? { playbook: c.playbook } : {}) },
          ),
        ),
      );
      cases.forEach((c, index) => {
        const run = runs[index] as RoleRun;
        const guid = c.vars.guid as string;
        const requests = recorder.seen.filter((seen) => guidOf(seen) === guid);
        assert.deepEqual(
          requests.map((seen) => ({
            method: seen.method,
            path: seen.url,
            ...(seen.body === undefined ? {} : { body: seen.body }),
          })),
          [c.request],
          c.name,
        );
        assert.equal(requests[0]?.headers.authorization, `Bearer ${token}`, c.name);
        // Refused once, and not retried: the problem's fields, nothing of the request.
        assert.equal(run.failure, '400 Invalid request: recorded by the test', c.name);
        assert.equal(run.status, 2, c.name);
      });
      assert.ok(!JSON.stringify(recorder.seen).includes(MASTER_KEY), 'the master key is sent nowhere');
    });

    it('retries 502, 503, 504 and no answer only, then fails with what the last answer said', {
      skip,
    }, async () => {
      const fast = { ocp4_workload_litellm_virtual_keys_retry_delay: 0 };
      const [busy, gateway, reset] = await Promise.all([
        runRole(
          { ACTION: 'provision', guid: 'busy1', ocp4_workload_litellm_virtual_keys_retry_count: 2, ...fast },
          // At -vvv each retry prints its result: censored, like the request.
          { apiUrl: recorder.url, token, verbosity: 3 },
        ),
        runRole(
          { ACTION: 'destroy', guid: 'gateway1', ocp4_workload_litellm_virtual_keys_retry_count: 1, ...fast },
          { apiUrl: recorder.url, token },
        ),
        runRole(
          { ACTION: 'extend', guid: 'reset1', ocp4_workload_litellm_virtual_keys_retry_count: 1, ...fast },
          { apiUrl: `${recorder.url}/`, token },
        ),
      ]).then((all) => all.map(recorded));
      const count = (guid: string) => recorder.seen.filter((seen) => guidOf(seen) === guid).length;

      assert.deepEqual(
        [count('busy1'), busy?.failure],
        [3, '503 Dependency unavailable: LiteLLM answered 503'],
      );
      assert.equal(busy?.output.match(/^FAILED - RETRYING: /gm)?.length, 2);
      assert.ok(!busy?.output.includes(token), 'no token in the retries shown');
      assert.deepEqual(
        [count('gateway1'), gateway?.failure],
        [
          2,
          `504 HTTP error: the answer is no problem of the service: is ${recorder.url} the litellm-virtual-keys API, and the token one of its clients?`,
        ],
      );
      assert.equal(count('reset1'), 2);
      assert.ok(
        reset?.failure?.startsWith(`no answer from the litellm-virtual-keys service at ${recorder.url}: `),
        reset?.failure,
      );
      assert.deepEqual(
        [busy, gateway, reset].map((run) => run?.recap?.failed),
        [1, 1, 1],
      );
    });

    it('takes no other server’s answer for the service’s, and never prints the token it echoes', {
      skip,
    }, async () => {
      const runs = await Promise.all(
        (['provision', 'destroy', 'extend'] as const).map((action) =>
          runRole({ ACTION: action, guid: `html-${action}` }, { apiUrl: recorder.url, token }),
        ),
      ).then((all) => all.map(recorded));
      for (const run of runs) {
        assert.equal(run.status, 2, run.output);
        assert.match(run.failure ?? '', /^200 HTTP error: the answer is no problem of the service: is http:/);
      }
      const echoed = recorded(
        await runRole({ ACTION: 'destroy', guid: 'echo1' }, { apiUrl: recorder.url, token }),
      );
      assert.equal(echoed.failure, '400 Bad request: you sent Bearer [token]');
      assert.ok(!echoed.output.includes(token));
    });

    it('refuses to run without the service’s URL or token, and says which, without showing the token', {
      skip,
    }, async () => {
      const before = recorder.seen.length;
      const [noUrl, noToken] = await Promise.all([
        runRole({ ACTION: 'provision', guid: 'unsent1' }, { apiUrl: '', token }),
        runRole({ ACTION: 'provision', guid: 'unsent2' }, { apiUrl: recorder.url, token: '' }),
      ]).then((all) => all.map(recorded));
      assert.match(
        noUrl?.failure ?? '',
        /^litellm_virtual_keys_api_url is empty: set it, or LITELLM_VIRTUAL_KEYS_API_URL/,
      );
      assert.match(
        noToken?.failure ?? '',
        /^litellm_virtual_keys_api_token is empty: set it from a vault, or LITELLM_VIRTUAL_KEYS_API_TOKEN/,
      );
      assert.ok(!noUrl?.output.includes(token));
      assert.equal(recorder.seen.length, before, 'nothing sent');
    });
  });

  describe('against the local stack (npm start)', () => {
    let stack: LocalStack;
    before(async () => {
      if (!skip) stack = await startStack(token);
    });
    after(async () => {
      if (stack) await stopReady(stack.process);
    });

    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${stack.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    /** The lab's keys as the service holds them (values included: the dev client has read-key). */
    const keysOf = async (guid: string) => {
      const status = await api('GET', `/keys/${guid}`);
      assert.equal(status.status, 200, `GET /keys/${guid}`);
      const keys = status.body.keys as StatusKey[];
      for (const key of keys) recordSecret(key.litellm_virtual_key);
      return keys;
    };
    /**
     * The role run against the stack. A provision's output shows its keys, as AgnosticD shows user
     * info (the old role's did too, and RHDP reads it from the task results): it is not given to the
     * leak check, which would count them; the token and the master key are looked for here instead.
     */
    const role = async (vars: Record<string, unknown>, options: { verbosity?: number } = {}) => {
      const run = await runRole(
        { litellm_master_key: MASTER_KEY, ...vars },
        { apiUrl: stack.base, token, ...options },
      );
      if (vars.ACTION !== 'provision') return recorded(run);
      assert.ok(!run.output.includes(token), 'no token in the output');
      assert.ok(!run.output.includes(MASTER_KEY), 'no master key in the output');
      return run;
    };

    const workshopLink = 'Workshop guide: https://showroom.example.com/ai-101';
    const single = {
      ACTION: 'provision',
      guid: 'ans-single',
      ocp4_workload_litellm_virtual_keys_subscription_package: 'ai-beginner',
      ocp4_workload_litellm_virtual_keys_user_info_messages: [workshopLink],
    };
    /** ai-beginner's term (docs/api.md's packages). */
    const singleDuration = '7d';
    let firstRun: RoleRun;

    it('provisions a single-user lab: changed, the old role’s user info and facts', { skip }, async () => {
      firstRun = await role(single);
      assert.equal(firstRun.status, 0, firstRun.output);
      assert.deepEqual([firstRun.recap?.changed, firstRun.recap?.failed], [1, 0]);

      const [key] = await keysOf('ans-single');
      assert.ok(key);
      assert.equal(key.litellm_key_alias, 'virtkey-ans-single');
      assert.deepEqual(key.litellm_available_models, ['granite-3-2-8b-instruct']);
      assert.deepEqual(
        firstRun.userInfo,
        oldRoleSingleUserInfo(stack.endpoint, key, singleDuration, [workshopLink]),
      );
      assert.deepEqual(firstRun.facts, {
        litellm_virtual_key_sha256: key.litellm_key_id,
        litellm_key_alias: 'virtkey-ans-single',
        litellm_key_id: key.litellm_key_id,
        litellm_api_endpoint: stack.endpoint,
        litellm_available_models: ['granite-3-2-8b-instruct'],
        litellm_key_duration: singleDuration,
        litellm_key_deleted: null,
        litellm_key_was_missing: null,
      });
      // Every call is shown as AgnosticD shows it, the key's too: RHDP reads the task results.
      assert.ok(firstRun.output.includes(`"msg": "user.info: LiteMaaS API Base URL: ${stack.endpoint}/v1"`));
      assert.ok(
        firstRun.output.includes(`"msg": "user.info: LiteMaaS Virtual Key: ${key.litellm_virtual_key}"`),
      );
    });

    it('reports a rerun of the provision as ok, with the same key and user info', { skip }, async () => {
      const rerun = await role(single);
      assert.equal(rerun.status, 0, rerun.output);
      assert.deepEqual([rerun.recap?.changed, rerun.recap?.failed], [0, 0]);
      assert.deepEqual(rerun.userInfo, firstRun.userInfo);
      assert.deepEqual(rerun.facts, firstRun.facts);

      const quiet = await role({
        ...single,
        ocp4_workload_litellm_virtual_keys_enable_user_info_messages: false,
        ocp4_workload_litellm_virtual_keys_enable_user_info_data: false,
      });
      assert.deepEqual([quiet.recap?.changed, quiet.userInfo], [0, []]);
    });

    it('provisions a 3-user lab at -vvv (multi-user from num_users, as the old role): each user’s data, the lab’s, the real term, no token', {
      skip,
    }, async () => {
      const started = Date.now();
      const run = await role(
        {
          ACTION: 'provision',
          guid: 'ans-multi',
          ocp4_workload_litellm_virtual_keys_subscription_package: 'ai-developer',
          ocp4_workload_litellm_virtual_keys_duration: '30d',
          num_users: 3,
          ocp4_workload_litellm_virtual_keys_user_email_domain: 'example.com',
          agnosticd_user_info: { runtime: 500 },
        },
        { verbosity: 3 },
      );
      const finished = Date.now();
      assert.equal(run.status, 0, 'the -vvv provision succeeded');
      assert.equal(run.recap?.changed, 1);

      const keys = await keysOf('ans-multi');
      const byUser = ['user1', 'user2', 'user3'].map((user) => {
        const key = keys.find((k) => k.user === user);
        assert.ok(key, `a key for ${user}`);
        return { ...key, user };
      });
      assert.deepEqual(
        byUser.map((key) => key.litellm_key_alias),
        ['virtkey-ans-multi-user1', 'virtkey-ans-multi-user2', 'virtkey-ans-multi-user3'],
      );
      // The one deliberate difference: the old role said 30d here, though the keys last 500 h.
      assert.deepEqual(run.userInfo, oldRoleMultiUserInfo(stack.endpoint, byUser, '500h', 'example.com'));
      for (const key of byUser) {
        const expires = Date.parse(key.litellm_key_expires);
        assert.ok(expires >= started + 500 * HOUR_MS - 1_000 && expires <= finished + 500 * HOUR_MS + 1_000);
      }

      assert.ok(run.output.includes('<localhost> ESTABLISH LOCAL CONNECTION'), 'a -vvv run');
      assert.ok(run.output.includes('"msg": "user.info: Created 3 virtual keys"'));
      // Each user's key is in its user-info result, as AgnosticD shows it; the token never is (role() checked).
      for (const key of byUser) assert.ok(run.output.includes(key.litellm_virtual_key), key.user);
    });

    it('extends a lab by the catalog runtime through the extend playbook (AgnosticD v2’s agnosticd.core)', {
      skip,
    }, async () => {
      const started = Date.now();
      const run = recorded(
        await runRole(
          { guid: 'ans-single', agnosticd_user_info: { runtime: 720 } },
          { apiUrl: stack.base, token, agnosticd: 'v2', playbook: 'rhpds.litellm_virtual_keys.extend_key' },
        ),
      );
      const finished = Date.now();
      assert.equal(run.status, 0, run.output);
      assert.equal(run.recap?.changed, 1);
      assert.deepEqual(run.userInfo, [
        { data: { litellm_key_duration: '720h' } },
        { msg: 'LiteLLM Virtual Key extended to 720h' },
      ]);
      const [key] = await keysOf('ans-single');
      const expires = Date.parse(key?.litellm_key_expires ?? '');
      assert.ok(expires >= started + 720 * HOUR_MS - 1_000 && expires <= finished + 720 * HOUR_MS + 1_000);
    });

    it('fails with the service’s problem, and makes nothing, for an unknown package', { skip }, async () => {
      const asked = await api('POST', '/keys', { guid: 'ans-unknown', package: 'no-such-package' });
      const run = await role({
        ACTION: 'provision',
        guid: 'ans-unknown',
        ocp4_workload_litellm_virtual_keys_subscription_package: 'no-such-package',
      });
      assert.equal(asked.status, 400);
      assert.equal(run.failure, `400 ${asked.body.title}: ${asked.body.detail}`);
      assert.equal(run.failure, '400 Invalid request: unknown package "no-such-package"');
      assert.deepEqual(run.userInfo, []);
      assert.equal((await api('GET', '/keys/ans-unknown')).status, 404);
    });

    it('destroys through the API alone where the deployment refuses force_db_delete, as the old role’s best effort', {
      skip,
    }, async () => {
      const run = await role({
        ACTION: 'destroy',
        guid: 'ans-single',
        ocp4_workload_litellm_virtual_keys_force_db_delete: true,
      });
      assert.equal(run.status, 0, run.output);
      assert.equal(run.recap?.changed, 1);
      assert.ok(
        run.output.includes(
          'force_db_delete is not allowed on this deployment; the keys were deleted through the API only',
        ),
      );
      assert.deepEqual([run.facts?.litellm_key_deleted, run.facts?.litellm_key_was_missing], [true, false]);
      assert.equal((await api('GET', '/keys/ans-single')).status, 404);
    });

    it('destroys the labs: changed, the old role’s facts, no user info, and the keys gone', {
      skip,
    }, async () => {
      for (const guid of ['ans-multi']) {
        const run = await role({ ACTION: 'destroy', guid });
        assert.equal(run.status, 0, run.output);
        assert.equal(run.recap?.changed, 1, guid);
        assert.deepEqual(run.userInfo, []);
        assert.deepEqual([run.facts?.litellm_key_deleted, run.facts?.litellm_key_was_missing], [true, false]);
        assert.equal((await api('GET', `/keys/${guid}`)).status, 404);
      }
      const again = await role({ ACTION: 'destroy', guid: 'ans-single' });
      assert.deepEqual(
        [again.recap?.changed, again.facts?.litellm_key_deleted, again.facts?.litellm_key_was_missing],
        [0, false, true],
      );
    });
  });
});
