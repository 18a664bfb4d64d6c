import { setTimeout as sleep } from 'node:timers/promises';
import type { Deadline } from '../deadline.ts';
import { UnavailableError } from '../errors.ts';
import { log } from '../log.ts';
import { isInFlight, type Lab } from './lab-record.ts';
import { type LabStore, VersionConflict } from './lab-store.ts';

/**
 * The one protocol every change to a lab goes through (provision, extend, destroy, move and each
 * sweep visit): take the lab's lease by a conditional write, run, then release with the outcome,
 * or abandon. Every write under the lease names the version the holder last wrote, so a holder
 * whose lease lapsed and was taken over cannot write again, and so cannot announce (and then make)
 * a LiteLLM change: the version is the fencing token, not the clock. From the lease taken until
 * it is given back with no move left under way, the lab is in flight (`inFlightSince`).
 */

/** The lab was taken over while this request worked (its lease had lapsed): nothing more is written. */
export class LeaseLostError extends UnavailableError {
  override name = 'LeaseLostError';
  constructor(guid: string, options?: ErrorOptions) {
    super(`lab ${guid} was changed by another request while this one worked; retry`, 2, options);
  }
}

export interface LeaseDeps {
  readonly store: LabStore;
  /** Unique per invocation (or sweep run). */
  readonly owner: string;
  /** Waiting for the lease ends shortly before this. */
  readonly deadline: Deadline;
  /** How long a lease lasts from when it is taken (never past the deadline); the deadline by default. */
  readonly leaseMs?: number;
  readonly now: () => Date;
  /** Waits between tries; tests pass their own clock's. */
  readonly pause?: (ms: number) => Promise<void>;
}

/** A lab under this caller's lease. */
export class HeldLab {
  #lab: Lab;
  #released = false;

  constructor(
    private readonly store: LabStore,
    lab: Lab,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.#lab = lab;
  }

  /**
   * Called right before each LiteLLM change the holder announced: a holder whose lease has run out
   * (another may hold the lab now) makes none. The announcing write is the real guard; this keeps a
   * late holder from acting on it.
   */
  ensureHeld(): void {
    const until = this.#lab.lease?.until;
    if (this.#released || until === undefined || until <= this.now().getTime())
      throw new LeaseLostError(this.#lab.guid);
  }

  /** The lab as this holder last wrote it. */
  get lab(): Lab {
    return this.#lab;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Record a change and keep the lease: done before the LiteLLM call the change announces. */
  record(change: (lab: Lab) => Lab): Promise<Lab> {
    return this.write((lab) => ({ ...change(lab), lease: lab.lease }));
  }

  /** The last write: the outcome, and the lease given back. */
  async release(change: (lab: Lab) => Lab = (lab) => lab): Promise<Lab> {
    const lab = await this.write((current) => ({ ...change(current), lease: undefined }));
    this.#released = true;
    return lab;
  }

  /** After a failure: give the lease back unchanged, or let it lapse if even that fails. */
  async abandon(): Promise<void> {
    if (this.#released) return;
    await this.release().catch((failure: unknown) =>
      log.warn('lease not released; it lapses', { guid: this.#lab.guid, err: failure }),
    );
  }

  private async write(change: (lab: Lab) => Lab): Promise<Lab> {
    if (this.#released) throw new Error(`lab ${this.#lab.guid}: written after its lease was released`);
    const current = this.#lab;
    const next = change(current);
    try {
      this.#lab = await this.store.write({
        ...next,
        // The protocol's, not the change's: kept from the lease taken until the lease is given back
        // with no move left under way.
        inFlightSince: isInFlight(next) ? (current.inFlightSince ?? this.now().toISOString()) : undefined,
        guid: current.guid,
        version: current.version,
      });
    } catch (error) {
      if (error instanceof VersionConflict) throw new LeaseLostError(current.guid, { cause: error });
      throw error;
    }
    return this.#lab;
  }
}

/**
 * Run `work` under the lab's lease. While another holds it, the lab is re-read now and then and
 * `settled` may find that what this caller wants is already there (another request did it) and end
 * the wait with its answer; a 503 once the deadline nears. `work` releases the lease with its
 * outcome; if it returns without, the lease is given back unchanged, and after a failure it is
 * abandoned.
 */
export async function underLease<T>(
  guid: string,
  deps: LeaseDeps,
  work: (held: HeldLab) => Promise<T>,
  settled: (lab: Lab) => Promise<T | undefined> = async () => undefined,
): Promise<T> {
  const pause = deps.pause ?? ((ms: number) => sleep(ms));
  let leased = await acquire(guid, deps);
  // Waiters read (one GetItem) and try the lease only once it looks free.
  for (let wait = 50; !leased; wait = Math.min(4000, wait * 1.6)) {
    const delay = wait / 2 + Math.random() * wait;
    if (deps.deadline.sooner(1000).wouldPass(delay, deps.now().getTime())) {
      throw new UnavailableError(`lab ${guid} is being changed by another request; retry shortly`, 2);
    }
    await pause(delay);
    const lab = await deps.store.read(guid);
    const answer = await settled(lab);
    if (answer !== undefined) return answer;
    const now = deps.now().getTime();
    if (!lab.lease || lab.lease.until < now) leased = await acquire(guid, deps);
  }
  const held = new HeldLab(deps.store, leased, deps.now);
  try {
    const outcome = await work(held);
    if (!held.released) await held.release();
    return outcome;
  } catch (error) {
    // A lost lease is another's now: there is nothing of this caller's to give back.
    if (!(error instanceof LeaseLostError)) await held.abandon();
    throw error;
  }
}

/** One try at the lease, lasting `leaseMs` from now (never past the deadline), or until the deadline. */
function acquire(guid: string, deps: LeaseDeps): Promise<Lab | undefined> {
  const now = deps.now().getTime();
  const until =
    deps.leaseMs === undefined ? deps.deadline.at : Math.min(deps.deadline.at, now + deps.leaseMs);
  return deps.store.acquire(guid, deps.owner, until, now);
}

/** The lab's lease if it is free now, without waiting: the sweep passes over a busy lab until its next run. */
export async function tryLease(guid: string, deps: LeaseDeps): Promise<HeldLab | undefined> {
  const leased = await acquire(guid, deps);
  return leased ? new HeldLab(deps.store, leased, deps.now) : undefined;
}
