import { BadRequestError } from '../errors.ts';
import { isExpired } from '../key-identity.ts';
import { tryLease } from '../ledger/lease.ts';
import type { DueLab } from '../ledger/sweep-index.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { roleMadeOwner } from '../role-made/role-made-key.ts';
import { neverOurs, takenOverLab, takeoverOpen } from '../role-made/take-over.ts';
import { deleteExpiredKeys } from './delete-expired.ts';
import { DryRunGate } from './dry-run-gate.ts';
import { msOf, type SweepDeps } from './sweep.ts';

/** What a role-made sweep found on one target and did (or, in a dry run, would do). */
export interface RoleMadeSweepReport {
  dry_run: boolean;
  /** Keys read from LiteLLM's list. */
  scanned: number;
  /** Keys the Ansible role made (lib/role-made/role-made-key.ts), whatever their expiry. */
  role_made: number;
  /** Role-made keys past expiry and grace, of guids the ledger has never seen: what is (would be) deleted. */
  expired: number;
  /** Their labs. */
  labs: number;
  /** Expired role-made keys of guids the ledger already has (taken over, or provisioned by the service): left to the nightly sweep. */
  skipped_recorded: number;
  /** Labs recorded in the ledger (taken over, without an owner) before their keys were deleted. */
  taken_over: number;
  deleted: number;
  already_gone: number;
  failed: number;
  /** Labs not visited: out of time, or busy with a request at that moment. */
  pending: number;
  /** Dry run: every alias that would be deleted. */
  would_delete?: string[];
  stopped_early: boolean;
}

/** How long the sweep holds a lab it takes over and clears: a few LiteLLM calls' worth. */
const VISIT_LEASE_MS = 60_000;

/**
 * LiteLLM's whole list, a page at a time, live keys too: a lab the role made is recorded with all
 * its keys (its extend renewed only the first user's), so no expiry filter.
 */
async function* listedKeys(litellm: KeyApi): AsyncGenerator<readonly KeyRecord[]> {
  for (let page = 1; ; page++) {
    const result = await litellm.listKeys({ page, sort_by: 'token', sort_order: 'asc' });
    yield result.keys;
    if (page >= result.total_pages || result.keys.length === 0) return;
  }
}

/**
 * The cut-over's clean-up, asked for by an operator (`{"role_made": true}`, first with
 * `"dry_run": true`): the expired keys the Ansible role made, of labs the ledger has never seen,
 * on the default target, where the role made them. A dry run lists every one of them; a real run
 * records each lab in the ledger as taken over with all its role-made keys (intent before
 * effect), then deletes the expired ones as the nightly sweep deletes ours, verified gone; a rerun
 * leaves labs it took over to the nightly sweep. Nothing else of LiteLLM's keys is changed.
 * One LiteLLM listing of the whole key table: an operator's run during the window, never nightly.
 */
export async function sweepRoleMadeKeys(dryRun: boolean, deps: SweepDeps): Promise<RoleMadeSweepReport> {
  if (!takeoverOpen(deps.config, deps.now)) {
    throw new BadRequestError(
      'the role-made sweep runs only while the cut-over window is open: set ROLE_KEYS_TAKEOVER_UNTIL (stage parameter roleKeysTakeoverUntil) to a time to come',
    );
  }
  const target = deps.config.litellm;
  const { litellm } = await deps.targets.connect(target);
  const cutoff = new Date(deps.now.getTime() - msOf(deps.config.sweepGrace));
  const report: RoleMadeSweepReport = {
    dry_run: dryRun,
    scanned: 0,
    role_made: 0,
    expired: 0,
    labs: 0,
    skipped_recorded: 0,
    taken_over: 0,
    deleted: 0,
    already_gone: 0,
    failed: 0,
    pending: 0,
    stopped_early: false,
  };
  // Every role-made key, by lab; the labs with an expired one are the sweep's.
  const byLab = new Map<string, KeyRecord[]>();
  for await (const keys of listedKeys(litellm)) {
    report.scanned += keys.length;
    for (const record of keys) {
      const owner = roleMadeOwner(record);
      if (!owner) continue;
      report.role_made++;
      byLab.set(owner.guid, [...(byLab.get(owner.guid) ?? []), record]);
    }
  }
  const expiredOf = (records: readonly KeyRecord[]) => records.filter((record) => isExpired(record, cutoff));
  for (const [guid, records] of byLab) if (expiredOf(records).length === 0) byLab.delete(guid);
  const due: DueLab[] = [];
  const aliases: string[] = [];
  const lease = { ...deps.lease, leaseMs: VISIT_LEASE_MS };
  for (const [guid, records] of byLab) {
    if (deps.stopAt.wouldPass()) {
      report.stopped_early = true;
      report.pending++;
      continue;
    }
    const expired = expiredOf(records);
    const known = await deps.store.read(guid);
    if (!neverOurs(known)) {
      report.skipped_recorded += expired.length;
      continue;
    }
    report.labs++;
    report.expired += expired.length;
    aliases.push(...expired.map((record) => String(record.key_alias)));
    if (dryRun) continue;
    const held = await tryLease(guid, lease);
    if (!held) {
      report.pending++;
      continue;
    }
    try {
      if (!neverOurs(held.lab)) continue;
      // Every key of the lab is recorded, the live ones too: the lab's destroy, or the nightly
      // sweep at their expiry, deletes those later.
      await held.release((leased) => takenOverLab(leased, records, target.name, undefined, deps.now));
      report.taken_over++;
      const expiries = held.lab.keys.flatMap((key) => (key.expiresAt ? [key.expiresAt] : [])).sort();
      due.push({
        guid,
        sweepAt: expiries[0] ?? deps.now.toISOString(),
        target: target.name,
        keyRefs: held.lab.keys.map((key) => `${target.name} ${key.keyId}`),
        targets: [target.name],
      });
    } finally {
      await held.abandon();
    }
  }
  if (dryRun) return { ...report, would_delete: aliases.sort() };
  const deletion = await deleteExpiredKeys({
    labsDue: async function* () {
      yield due;
    },
    store: deps.store,
    target: target.name,
    litellm,
    cutoff,
    now: deps.now,
    graceMs: deps.reconcileGraceMs,
    gate: new DryRunGate(false),
    concurrency: Math.max(1, Math.min(16, target.maxConnections * 2)),
    lease,
    shouldStop: () => deps.stopAt.wouldPass(),
  });
  return {
    ...report,
    deleted: deletion.deleted,
    already_gone: deletion.alreadyGone,
    failed: deletion.failed,
    pending: report.pending + deletion.pending,
    stopped_early: report.stopped_early || deletion.pending > 0,
  };
}
