/**
 * Real `ansible-playbook` runs of the drop-in role (ansible/ansible_collections/rhpds/litellm_virtual_keys),
 * as AgnosticD runs a workload: the variables from an extra-vars file (never the command line), the
 * service's URL and token from the environment, and AgnosticD's `agnosticd_user_info` played by the
 * stand-in in `action_plugins/`, which records every call. Each run has a folder of its own, so runs
 * may go side by side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SUPPORT = resolve(import.meta.dirname);
const COLLECTIONS = resolve(SUPPORT, '../../../ansible');

/** Why the Ansible suites cannot run here, or undefined when they can. */
export function ansibleMissing(): string | undefined {
  const found = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' });
  return found.error || found.status !== 0
    ? 'ansible-playbook is not installed: apt-get install ansible-core'
    : undefined;
}

/** One `agnosticd_user_info` call's arguments, as AgnosticD's action receives them. */
export interface UserInfoCall {
  msg?: string;
  data?: Record<string, unknown>;
  user?: string;
  body?: string;
}

/** The facts the role leaves, as the test playbook records them (the key value only as its SHA-256). */
export interface RoleFacts {
  litellm_virtual_key_sha256: string | null;
  litellm_key_alias: string | null;
  litellm_key_id: string | null;
  litellm_api_endpoint: string | null;
  litellm_available_models: string[] | null;
  litellm_key_duration: string | null;
  litellm_key_deleted: boolean | null;
  litellm_key_was_missing: boolean | null;
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
}

export interface RoleRun {
  /** ansible-playbook's exit status. */
  readonly status: number | null;
  /** Everything it printed, stdout then stderr. */
  readonly output: string;
  readonly recap: Recap | undefined;
  /** The `msg` of the task that failed, if one did. */
  readonly failure: string | undefined;
  readonly userInfo: UserInfoCall[];
  /** Undefined for a playbook other than the test's own (the collection's extend_key). */
  readonly facts: RoleFacts | undefined;
}

export interface RunOptions {
  readonly apiUrl: string;
  readonly token: string;
  /** AgnosticD v1 keeps `agnosticd_user_info` among its playbooks' action plugins; v2 in its collection `agnosticd.core`. */
  readonly agnosticd?: 'v1' | 'v2';
  /** The test's playbook, which includes the role and records its facts, or one of the collection's playbooks. */
  readonly playbook?: 'role' | 'rhpds.litellm_virtual_keys.extend_key';
  readonly verbosity?: number;
}

function recapOf(output: string): Recap | undefined {
  const line =
    /^localhost\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)/m.exec(output);
  if (!line) return undefined;
  const [ok, changed, failed, skipped] = line.slice(1).map(Number) as [number, number, number, number];
  return { ok, changed, failed, skipped };
}

/** The failed task's `msg`: its result is JSON on one line, or indented over several from -v on. */
function failureOf(output: string): string | undefined {
  const fatal = /^fatal: \[localhost\]: FAILED! => /m.exec(output);
  if (!fatal) return undefined;
  const result = output.slice(fatal.index + fatal[0].length);
  const end = result.startsWith('{\n') ? result.indexOf('\n}') + 2 : result.indexOf('\n');
  return (JSON.parse(result.slice(0, end)) as { msg?: string }).msg;
}

/** The stand-in for `agnosticd_user_info` alone, as an ad-hoc task with `args`: what it printed and recorded. */
export async function runUserInfoAction(args: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'ansible-user-info-'));
  try {
    const record = join(dir, 'user-info.jsonl');
    const env = ansibleEnv(dir, {
      ANSIBLE_ACTION_PLUGINS: join(SUPPORT, 'action_plugins'),
      AGNOSTICD_USER_INFO_RECORD: record,
    });
    const run = await spawnCollect(
      'ansible',
      ['localhost', '-m', 'agnosticd_user_info', '-a', JSON.stringify(args)],
      env,
    );
    return { ...run, recorded: readLines(record) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment of a run in `dir`: nothing from the caller's Ansible settings, only `settings`. */
function ansibleEnv(dir: string, settings: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ANSIBLE_'))),
    ANSIBLE_HOME: join(dir, 'home'),
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ...settings,
  };
}

async function spawnCollect(command: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const status = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', done);
  });
  return { status, output: `${stdout}${stderr}` };
}

/** The calls the stand-in recorded, one JSON line each; none when it never ran. */
const readLines = (file: string): UserInfoCall[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as UserInfoCall)
    : [];

/** Runs the role with `vars` (AgnosticD's variables) and collects what it printed, sent and left. */
export async function runRole(vars: Record<string, unknown>, options: RunOptions): Promise<RoleRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ansible-role-run-'));
  try {
    const files = {
      vars: join(dir, 'vars.json'),
      userInfo: join(dir, 'user-info.jsonl'),
      facts: join(dir, 'facts.json'),
    };
    writeFileSync(files.vars, JSON.stringify(vars));
    const agnosticd = options.agnosticd ?? 'v1';
    const env = ansibleEnv(dir, {
      ANSIBLE_COLLECTIONS_PATH:
        agnosticd === 'v2' ? `${COLLECTIONS}:${join(SUPPORT, 'collections')}` : COLLECTIONS,
      ...(agnosticd === 'v1' ? { ANSIBLE_ACTION_PLUGINS: join(SUPPORT, 'action_plugins') } : {}),
      LITELLM_VIRTUAL_KEYS_API_URL: options.apiUrl,
      LITELLM_VIRTUAL_KEYS_API_TOKEN: options.token,
      AGNOSTICD_USER_INFO_RECORD: files.userInfo,
      ROLE_FACTS_RECORD: files.facts,
    });
    const playbook =
      (options.playbook ?? 'role') === 'role'
        ? join(SUPPORT, 'playbooks/role.yml')
        : (options.playbook as string);
    const args = ['-i', 'localhost,', '-e', `@${files.vars}`, playbook];
    if (options.verbosity) args.unshift(`-${'v'.repeat(options.verbosity)}`);
    const { status, output } = await spawnCollect('ansible-playbook', args, env);
    return {
      status,
      output,
      recap: recapOf(output),
      failure: failureOf(output),
      userInfo: readLines(files.userInfo),
      facts: existsSync(files.facts)
        ? (JSON.parse(readFileSync(files.facts, 'utf8')) as RoleFacts)
        : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
