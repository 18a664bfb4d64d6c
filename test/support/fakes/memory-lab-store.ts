import { blankLab, type Lab, labFromItem, labToItem } from '../../../lib/ledger/lab-record.ts';
import { type LabStore, VersionConflict } from '../../../lib/ledger/lab-store.ts';

/**
 * The ledger in memory, for the protocol's tests: the same version and lease conditions as the
 * DynamoDB store, and every lab kept as the item its declaration writes (so a field the declaration
 * forgets is lost here too).
 */
export class MemoryLabStore implements LabStore {
  readonly items = new Map<string, Record<string, unknown>>();
  /** Called with a lab's item before and after each write, for checks on how it changes. */
  onWrite: (before: Record<string, unknown> | undefined, after: Record<string, unknown>) => void = () =>
    undefined;

  lab(guid: string): Lab {
    const item = this.items.get(guid);
    return item ? labFromItem(item) : blankLab(guid);
  }

  async read(guid: string): Promise<Lab> {
    return this.lab(guid);
  }

  async acquire(guid: string, owner: string, until: number, now: number): Promise<Lab | undefined> {
    const lab = this.lab(guid);
    if (lab.lease && lab.lease.until >= now) return undefined;
    const since = lab.inFlightSince ?? new Date(now).toISOString();
    const leased = { ...lab, lease: { owner, until }, inFlightSince: since, version: lab.version + 1 };
    this.put(guid, labToItem(leased));
    return leased;
  }

  async write(lab: Lab): Promise<Lab> {
    if (this.lab(lab.guid).version !== lab.version) {
      throw new VersionConflict(`lab ${lab.guid} changed since version ${lab.version}`);
    }
    const next = { ...lab, version: lab.version + 1 };
    this.put(lab.guid, labToItem(next));
    return this.lab(lab.guid);
  }

  private put(guid: string, item: Record<string, unknown>): void {
    const before = this.items.get(guid);
    this.items.set(guid, item);
    this.onWrite(before, item);
  }
}
