/**
 * The lease protocol explored: provision, extend, destroy, sweep, move, a squatting client, the
 * clock jumping past leases and expiries, and LiteLLM applying a held /key/generate late, all on
 * one lab, in the orders fast-check's scheduler picks (and shrinks a failing one to). In-memory
 * fakes stand for the ledger, KMS and two LiteLLM proxies; the operations are the service's own.
 *
 * `role-made` explores the cut-over instead (role-made-world.ts): the takeover by destroy, extend and
 * status, a client outside the window, the role-made sweep, the nightly sweep and a provision.
 *
 * Run as a script (`node --import tsx <this file> [runs] [seed] [lab|role-made]`), it prints one JSON line: node's
 * test runner tracks every promise with async hooks, which makes the exploration several times
 * slower, so the test runs it in a process of its own.
 */
import '../fixtures/quiet-logs.ts';
import fc from 'fast-check';
import { Problem } from '../../../lib/errors.ts';
import { GRACE_MS, GUID, STEPS, World } from './lab-world.ts';
import { ROLE_STEPS, RoleMadeWorld } from './role-made-world.ts';

export interface Exploration {
  readonly schedules: number;
  readonly ms: number;
  /** The shrunk failing schedule, with the invariants it broke; absent when every schedule held. */
  readonly failure?: string;
}

/** Which world is explored: the lab's operations, or the cut-over's takeover of the role's keys. */
export type WorldKind = 'lab' | 'role-made';

export async function exploreInterleavings(
  runs: number,
  seed: number,
  kind: WorldKind = 'lab',
): Promise<Exploration> {
  const steps = kind === 'lab' ? STEPS : ROLE_STEPS;
  const started = Date.now();
  let schedules = 0;
  const outcome = await fc.check(
    fc.asyncProperty(
      fc.scheduler(),
      fc.array(fc.constantFrom<string>(...steps), { minLength: 2, maxLength: 7 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
      async (s, picked, holds) => {
        schedules++;
        const world = kind === 'lab' ? new World(s, holds) : new RoleMadeWorld(s, holds);
        // Each step starts when the scheduler lets it, so steps overlap in every order.
        const running = picked.map((step) =>
          s
            .schedule(Promise.resolve(step), `start ${step}`)
            .then((name) => world.step(name as Parameters<World['step']>[0]))
            .catch((error: unknown) => {
              if (!(error instanceof Problem)) world.violations.push(`${step} failed with ${String(error)}`);
            }),
        );
        await s.waitIdle();
        await Promise.all(running);
        // Every held request lands (within the grace), the grace passes, and the sweep comes by.
        while (Object.values(world.proxies).some((proxy) => proxy.applyLate()));
        world.advance(GRACE_MS + 31 * 60_000);
        const settling = world
          .sweep()
          .catch((error: unknown) => world.violations.push(`settling sweep failed: ${String(error)}`));
        await s.waitIdle();
        await settling;
        await world.checkSettled(world.store.lab(GUID));
        // The schedule's report is built only for a failure: it is most of a run's cost.
        if (world.violations.length > 0)
          throw new Error(`${world.violations.join('; ')} after steps ${picked.join(', ')}\n${String(s)}`);
      },
    ),
    { numRuns: runs, seed },
  );
  const failure = outcome.failed
    ? `${String((outcome.errorInstance as Error | undefined)?.message ?? '').split('\n')[0]}\n${fc.defaultReportMessage(outcome)}`
    : undefined;
  return { schedules, ms: Date.now() - started, ...(failure ? { failure } : {}) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [runs = '10000', seed = '24', kind = 'lab'] = process.argv.slice(2);
  const explored = await exploreInterleavings(Number(runs), Number(seed), kind as WorldKind);
  process.stdout.write(`${JSON.stringify(explored)}\n`);
}
