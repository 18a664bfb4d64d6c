/**
 * `npm run deploy -- --stage <stage> [osls deploy options]`, apart from the process it runs in:
 * `osls deploy`, then `osls info --verbose` on the same stage and region, whose stack outputs hold
 * the HTTP API's URL (`HttpApiUrl`). The CLI runs are handed in, so tests need no AWS.
 */
import { resolve } from 'node:path';

/** One Serverless CLI run: its exit status and what it printed. */
export type CliRun = (
  args: readonly string[],
  stdio: 'inherit' | 'pipe',
) => { status: number | null; stdout: string | null };

/** The value of `--name <value>` or `--name=<value>` in `args`, or undefined. */
function option(args: readonly string[], name: string): string | undefined {
  for (const [index, arg] of args.entries()) {
    if (arg === `--${name}`) return args[index + 1]?.startsWith('-') ? undefined : args[index + 1];
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return undefined;
}

/**
 * The `osls info` arguments naming the stack `osls deploy` with `args` deploys: its stage, and its
 * region and params when given (a param may name the service's resources). A string when no stage
 * is named: a deploy to the default stage by accident is what this script is there to prevent.
 */
export function infoArgs(args: readonly string[]): string[] | string {
  const stage = option(args, 'stage');
  if (!stage) {
    return 'Name the stage to deploy, which names the stack and its resources: npm run deploy -- --stage <stage> [osls deploy options]';
  }
  const region = option(args, 'region');
  const params = args.flatMap((arg, index) =>
    arg === '--param' && args[index + 1] !== undefined
      ? ['--param', args[index + 1] as string]
      : arg.startsWith('--param=')
        ? [arg]
        : [],
  );
  return ['info', '--verbose', '--stage', stage, ...(region ? ['--region', region] : []), ...params];
}

/**
 * `args` with a `--package <folder>` made absolute: the CLI runs in a service folder of its own
 * (runServerless), where a relative one would name nothing.
 */
export function withAbsolutePackage(args: readonly string[]): string[] {
  return args.map((arg, index) =>
    args[index - 1] === '--package'
      ? resolve(arg)
      : arg.startsWith('--package=')
        ? `--package=${resolve(arg.slice('--package='.length))}`
        : arg,
  );
}

/** `HttpApiUrl` among the stack outputs `osls info --verbose` prints. */
export function apiUrlOf(infoOutput: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the CLI colours its section names.
  const plain = infoOutput.replace(/\u001b\[[0-9;]*m/g, '');
  return /^\s*HttpApiUrl: (https:\/\/\S+)\s*$/m.exec(plain)?.[1];
}

/** Deploys, then prints the API URL; the exit status, and what to tell the operator. */
export function deploy(args: readonly string[], run: CliRun): { status: number; lines: string[] } {
  const info = infoArgs(args);
  if (typeof info === 'string') return { status: 1, lines: [info] };
  const deployed = run(['deploy', ...withAbsolutePackage(args)], 'inherit');
  if (deployed.status !== 0) return { status: deployed.status ?? 1, lines: ['osls deploy failed (above).'] };
  const described = run(info, 'pipe');
  const url = described.status === 0 ? apiUrlOf(described.stdout ?? '') : undefined;
  if (!url) {
    return {
      status: 1,
      lines: [
        `Deployed, but the API URL could not be read: run npx osls ${info.join(' ')} and look for HttpApiUrl.`,
      ],
    };
  }
  return { status: 0, lines: [`API URL: ${url}`] };
}
