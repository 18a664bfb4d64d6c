/** The instant by which an invocation's work must be over; every wait and retry is bounded by one. */
export class Deadline {
  /** No bound: scripts and tests that run outside a Lambda invocation. */
  static readonly NONE = new Deadline(Number.POSITIVE_INFINITY);

  /** `at` is epoch milliseconds. */
  constructor(readonly at: number) {}

  /** The end of a Lambda invocation, less `marginMs` kept to still answer. */
  static ofInvocation(context: { getRemainingTimeInMillis(): number }, marginMs: number): Deadline {
    return new Deadline(Date.now() + context.getRemainingTimeInMillis() - marginMs);
  }

  remainingMs(now = Date.now()): number {
    return this.at - now;
  }

  /** Whether something that starts now and takes `ms` would end past the deadline. */
  wouldPass(ms = 0, now = Date.now()): boolean {
    return now + ms > this.at;
  }

  /** The same deadline `ms` earlier: what is left for a step that must leave time after it. */
  sooner(ms: number): Deadline {
    return new Deadline(this.at - ms);
  }
}
