/**
 * What a bench found, printed twice: as tables a reader of its output sees, and as one HTML
 * comment that `bench/report.ts` gathers into BENCHMARKS.md's summary tables.
 */
export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
  /** Why a missed goal was missed. */
  readonly reason?: string;
}

/** One operation done this service's way and the role's way, on the same stand-in. */
export interface Comparison {
  readonly what: string;
  readonly ours: string;
  readonly role: string;
}

export interface BenchSummary {
  readonly bench: string;
  /** The LiteLLM stand-in's added latency per request, as the figures were taken. */
  readonly latency: string;
  readonly goals: readonly Goal[];
  readonly comparisons?: readonly Comparison[];
}

export const SUMMARY_MARKER = '<!-- bench-summary ';

export const verdict = (g: Goal) => (g.met ? 'met' : `**missed**: ${g.reason ?? 'no reason given'}`);

export function printSummary(summary: BenchSummary): void {
  const goals = summary.goals.map((g) => `| ${g.goal} | ${g.measured} | ${verdict(g)} |`);
  const comparisons = (summary.comparisons ?? []).map((c) => `| ${c.what} | ${c.ours} | ${c.role} |`);
  console.log(`${
    goals.length > 0
      ? `
| goal | measured | verdict |
| --- | --- | --- |
${goals.join('\n')}
`
      : ''
  }${
    comparisons.length > 0
      ? `
| compared with the role | this service | the role's approach |
| --- | --- | --- |
${comparisons.join('\n')}
`
      : ''
  }
${SUMMARY_MARKER}${JSON.stringify(summary)} -->`);
}
