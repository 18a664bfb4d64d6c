/**
 * The one place a dry run differs from a real sweep: every change the phases make (claims,
 * deletions, ledger entries, stored values, warnings, the cursor) goes through `change`, and a dry
 * run reads and counts exactly as a real one up to that point.
 */
export class DryRunGate {
  constructor(readonly dryRun: boolean) {}

  /** Makes the change on a real sweep and says so; a dry run skips it and answers false. */
  async change(make: () => Promise<unknown>): Promise<boolean> {
    if (this.dryRun) return false;
    await make();
    return true;
  }
}
