/**
 * `npm run invoke -- <function> [<sample>]`: runs one function's handler on a sample event from
 * events/ (or a file path) against the stand-ins of a running `npm start` (the only one, or the one
 * on PORT), from the TypeScript sources (no bundling; stack traces name the .ts lines). Says on
 * stderr which stack it uses, and prints the handler's result as JSON.
 */
import './check-node.mjs';
import { existsSync, readFileSync } from 'node:fs';
import { lambdaContext } from '../test/support/fixtures/events.ts';
import { chooseStack, liveStacks } from './local-stacks.ts';

/** The sample each function takes when none is named: the sweep runs for real, as the schedule runs it. */
const DEFAULT_SAMPLES: Record<string, string> = {
  authorizer: 'http-authorizer-request.json',
  provision: 'eventbridge-lab-provisioned.json',
  destroy: 'eventbridge-lab-destroyed.json',
  extend: 'eventbridge-lab-extended.json',
  move: 'http-post-move.json',
  status: 'http-get-keys.json',
  sweep: 'schedule-sweep.json',
};

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [fn, sample] = process.argv.slice(2);
if (!fn || !(fn in DEFAULT_SAMPLES)) {
  fail(
    `usage: npm run invoke -- <function> [<sample>]; functions: ${Object.keys(DEFAULT_SAMPLES).join(', ')}`,
  );
}

const stack = chooseStack(liveStacks(), process.env.PORT);
if (typeof stack === 'string') fail(stack);
process.stderr.write(`Using the local stack on ${stack.base} (pid ${stack.pid}).\n`);

const name = sample ?? (DEFAULT_SAMPLES[fn] as string);
const path = existsSync(name) ? name : `events/${name.endsWith('.json') ? name : `${name}.json`}`;
if (!existsSync(path)) fail(`No sample ${name}: name a file of events/ or a path.`);
const event = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
// A lab event happens now (an old `time` could be older than the lab's destroy, hence stale);
// the authorizer sees the stack's own token.
if (typeof event['detail-type'] === 'string') event.time = new Date().toISOString();
if (fn === 'authorizer') {
  const headers = { ...(event.headers as Record<string, string>), authorization: `Bearer ${stack.token}` };
  Object.assign(event, { headers, identitySource: [headers.authorization] });
}

Object.assign(process.env, stack.env);
const { handler } = (await import(`../functions/${fn}.ts`)) as {
  handler: (event: unknown, context: unknown) => Promise<unknown>;
};
try {
  const result = await handler(event, lambdaContext(fn === 'sweep' ? 900_000 : 29_000));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(
    `${fn} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
}
