/** How the stand-in misbehaves: random rates (seeded, so runs repeat) and scripted one-shot faults. */
export type FaultKind =
  | '500'
  | '503'
  /** connection reset before the request is applied */
  | 'reset'
  /** the request is applied, then the connection is reset: the answer is lost */
  | 'reset-after'
  /** no answer at all, until the client gives up */
  | 'hang'
  /** applied, then no answer */
  | 'hang-after';

export interface FaultRates {
  latencyMs: number;
  errorRate: number;
  resetRate: number;
  hangRate: number;
  /** Of the resets and hangs, the share that comes after the request is applied (the answer is lost). */
  appliedShare: number;
  /** Endpoints the rates apply to, such as 'POST /key/generate'; empty means all. */
  endpoints: string[];
  /** /key/delete answers 200 but keeps the keys (the "deleted key still there" fault). */
  stickyDelete: boolean;
  /** Pause between /key/generate's alias check and its insert, widening LiteLLM's race window. */
  aliasRaceGapMs: number;
  /**
   * LLM routes are served by another replica whose in-memory auth cache keeps a key it has
   * authenticated for this long, deleted or not (LiteLLM's user-key cache TTL, 60 s by default).
   */
  replicaAuthCacheMs: number;
}

interface Scripted {
  endpoint: string;
  kind: FaultKind;
  remaining: number;
  /** Only requests whose body or query contains this text. */
  matching?: string;
}

/** A seeded generator in [0, 1), so a fault pattern repeats run after run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Faults {
  rates: FaultRates = Faults.none();
  /** How many calls met each fault since the last `set` or `clear`. */
  readonly met = new Map<FaultKind, number>();
  private scripted: Scripted[] = [];
  private random = mulberry32(1);

  static none(): FaultRates {
    return {
      latencyMs: 0,
      errorRate: 0,
      resetRate: 0,
      hangRate: 0,
      appliedShare: 0,
      endpoints: [],
      stickyDelete: false,
      aliasRaceGapMs: 0,
      replicaAuthCacheMs: 0,
    };
  }

  set(rates: Partial<FaultRates>, seed = 1): void {
    this.met.clear();
    this.rates = { ...Faults.none(), ...rates };
    this.random = mulberry32(seed);
  }

  /**
   * The next `count` calls of `endpoint` ('*' for any) fail with `kind`; with `matching`, only
   * calls whose body or query contains that text (one user's alias, say).
   */
  failNext(endpoint: string, kind: FaultKind, count = 1, matching?: string): void {
    this.scripted.push({ endpoint, kind, remaining: count, ...(matching ? { matching } : {}) });
  }

  clear(): void {
    this.met.clear();
    this.rates = Faults.none();
    this.scripted = [];
  }

  /** The fault this call meets, if any. */
  pick(endpoint: string, request = ''): FaultKind | undefined {
    const fault = this.choose(endpoint, request);
    if (fault) this.met.set(fault, (this.met.get(fault) ?? 0) + 1);
    return fault;
  }

  private choose(endpoint: string, request: string): FaultKind | undefined {
    const script = this.scripted.find(
      (s) =>
        s.remaining > 0 &&
        (s.endpoint === endpoint || s.endpoint === '*') &&
        (s.matching === undefined || request.includes(s.matching)),
    );
    if (script) {
      script.remaining--;
      return script.kind;
    }
    const { endpoints, errorRate, resetRate, hangRate, appliedShare } = this.rates;
    if (endpoints.length > 0 && !endpoints.includes(endpoint)) return undefined;
    const roll = this.random();
    if (roll < errorRate) return '503';
    const applied = () => this.random() < appliedShare;
    if (roll < errorRate + resetRate) return applied() ? 'reset-after' : 'reset';
    if (roll < errorRate + resetRate + hangRate) return applied() ? 'hang-after' : 'hang';
    return undefined;
  }
}
