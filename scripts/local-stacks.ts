/**
 * Where a running `npm start` leaves its endpoints for `npm run invoke`: one file per stack, named
 * by its port, so that two stacks side by side never overwrite each other's.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAlive } from './process-alive.ts';

export interface LocalStack {
  readonly pid: number;
  readonly port: number;
  readonly base: string;
  readonly token: string;
  /** What the functions read: the stand-ins' endpoints and the dev stage's configuration. */
  readonly env: Record<string, string>;
}

const FILE = /^\.local-stack-(\d+)\.json$/;

export const stackFile = (port: number) => `.local-stack-${port}.json`;

/** The stacks still running, by port; files of stacks that died without removing theirs are removed. */
export function liveStacks(dir = '.'): LocalStack[] {
  const live: LocalStack[] = [];
  for (const name of readdirSync(dir)) {
    if (!FILE.test(name)) continue;
    const path = `${dir}/${name}`;
    let stack: LocalStack | undefined;
    try {
      stack = JSON.parse(readFileSync(path, 'utf8')) as LocalStack;
    } catch {
      // Being written or half-removed: not a stack to use.
      continue;
    }
    if (isAlive(stack.pid)) live.push(stack);
    else rmSync(path, { force: true });
  }
  return live.sort((a, b) => a.port - b.port);
}

/**
 * The stack `npm run invoke` talks to: the one on `port` when given, else the only one running.
 * A string when there is none to choose, saying why.
 */
export function chooseStack(stacks: readonly LocalStack[], port: string | undefined): LocalStack | string {
  if (port !== undefined && port !== '') {
    const named = stacks.find((stack) => String(stack.port) === port);
    if (named) return named;
    const running = stacks.length > 0 ? ` (running: ${stacks.map((s) => s.port).join(', ')})` : '';
    return `No local stack is running on port ${port}${running}.`;
  }
  const [only, ...others] = stacks;
  if (!only) return 'No local stack is running: start one with `npm start` in another terminal.';
  if (others.length > 0) {
    return `${stacks.length} local stacks are running, on ports ${stacks.map((s) => s.port).join(', ')}: name one with PORT=<port> npm run invoke -- ...`;
  }
  return only;
}
