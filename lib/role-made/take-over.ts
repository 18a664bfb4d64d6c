import type { Caller } from '../auth/client-grants.ts';
import type { Config } from '../config.ts';
import { expiryOf } from '../key-identity.ts';
import { ValueNotKeptError } from '../lab/key-values.ts';
import type { Lab, LabKey } from '../ledger/lab-record.ts';
import { type LeaseDeps, underLease } from '../ledger/lease.ts';
import type { KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';
import type { Targets } from '../targets/target-connections.ts';
import { findRoleMadeKeys, ROLE_MADE_PACKAGE, roleMadeOwner } from './role-made-key.ts';

/**
 * The cut-over from the Ansible role: while its window is open, a lab whose keys the role made is
 * taken over into the ledger the first time provision, destroy, extend or status is asked about it
 * (or the role-made sweep finds its keys expired), and from then on is a lab like any other, except that
 * its key values were never the service's to keep: status answers without them, provision and
 * move refuse it, extend and destroy work by key id.
 */

/**
 * Whether the window is open at `now`, and, given a caller, whether it may take labs over: one of
 * the window's clients, with the `destroy` scope (a lab taken over is the caller's, so a client
 * that only reads would otherwise own labs its destroying sibling could then not reach).
 */
export function takeoverOpen(config: Pick<Config, 'roleKeysTakeover'>, now: Date, caller?: Caller): boolean {
  const takeover = config.roleKeysTakeover;
  if (!takeover || now.getTime() >= takeover.until.getTime()) return false;
  return caller === undefined || (takeover.clients.includes(caller.client) && caller.scopes.has('destroy'));
}

/**
 * A provision or move of a lab the role made: refused before anything is made, since its keys'
 * values were never the service's to hand out (and a lab of both would leave the role's keys
 * behind at its destroy).
 */
export function refuseRoleMadeLab(lab: Lab): void {
  const key = lab.roleMade ? lab.keys.find((entry) => entry.sealed === undefined) : undefined;
  if (key) throw new ValueNotKeptError(lab.guid, key.alias);
}

/**
 * A lab the service never provisioned nor took over: not in the ledger, or only the tombstone of a
 * destroy that found nothing of ours (by a caller that could not take the role's keys over then,
 * such as a lab event outside the window's clients). Its role-made keys may still be taken.
 */
export const neverOurs = (lab: Lab) =>
  lab.keys.length === 0 &&
  lab.rechecks.length === 0 &&
  lab.generation === 0 &&
  !lab.roleMade &&
  (lab.state === undefined || lab.state === 'destroyed');

/** Never ours, or taken over by the sweep and not yet claimed by a client. */
const claimable = (lab: Lab) => neverOurs(lab) || (lab.roleMade === true && lab.client === undefined);

const aliasOrder = (a: KeyRecord, b: KeyRecord) =>
  (a.key_alias ?? '').localeCompare(b.key_alias ?? '', 'en', { numeric: true });

/** The ledger's entry of a key the role made: live as LiteLLM showed it, with no sealed value. */
function roleMadeEntry(record: KeyRecord, target: string, now: Date): LabKey {
  const user = roleMadeOwner(record)?.user;
  const expires = expiryOf(record);
  return {
    alias: String(record.key_alias),
    ...(user ? { user } : {}),
    target,
    keyId: String(record.token),
    status: 'live',
    package: ROLE_MADE_PACKAGE,
    ...(expires ? { expiresAt: expires.toISOString() } : {}),
    createdAt: record.created_at ? new Date(record.created_at).toISOString() : now.toISOString(),
  };
}

/**
 * A lab the ledger never saw, recorded with the role's keys of it on `target` (their metadata's
 * models and duration, as the role wrote them); `client` owns it, or none until one claims it.
 */
export function takenOverLab(
  lab: Lab,
  records: readonly KeyRecord[],
  target: string,
  client: string | undefined,
  now: Date,
): Lab {
  const sorted = [...records].sort(aliasOrder);
  const keys = sorted.map((record) => roleMadeEntry(record, target, now));
  const users = keys.flatMap((key) => (key.user ? [key.user] : []));
  const metadata = sorted[0]?.metadata ?? {};
  const models =
    typeof metadata.models === 'string'
      ? metadata.models.split(',').filter(Boolean)
      : (sorted[0]?.models ?? []);
  const started = keys.map((key) => key.createdAt).sort()[0] ?? now.toISOString();
  // A tombstone's destroy found nothing: the lab starts afresh, its last event's time kept for order.
  const { destroyedAt: _at, destroyedKeys: _keys, totalSpend: _spend, ...kept } = lab;
  return {
    ...kept,
    state: 'active',
    ...(client ? { client } : {}),
    roleMade: true,
    target,
    package: ROLE_MADE_PACKAGE,
    models,
    ...(typeof metadata.duration === 'string' ? { duration: metadata.duration } : {}),
    maxBudget: sorted[0]?.max_budget ?? null,
    ...(users.length > 0 ? { users } : sorted[0]?.user_id ? { userId: sorted[0].user_id } : {}),
    startedAt: started,
    createdAt: now.toISOString(),
    keys,
  };
}

/** What a takeover works with: an operation's own deps have all of it. */
export interface TakeoverDeps {
  readonly config: Pick<Config, 'roleKeysTakeover' | 'litellm' | 'labUserBase'>;
  readonly targets: Pick<Targets, 'connect'>;
  readonly lease: LeaseDeps;
  readonly now: () => Date;
}

/**
 * Before provision, destroy, extend or status of a lab the caller cannot otherwise reach: take over the keys
 * the role made for it (found on the default target, where the role made them), or claim a lab the
 * sweep took over, when the window is open and the caller is one of its clients. The lab as it is
 * afterwards (as another request left it, if one took it first), or as read when there was nothing to take.
 */
export async function takeOverRoleMadeLab(lab: Lab, caller: Caller, deps: TakeoverDeps): Promise<Lab> {
  if (!claimable(lab) || !takeoverOpen(deps.config, deps.now(), caller)) return lab;
  const target = deps.config.litellm;
  // Looked for before any lease: a guid the role never saw (most, during the window) writes nothing.
  let records: KeyRecord[] = [];
  if (!lab.roleMade) {
    const { litellm } = await deps.targets.connect(target);
    records = await findRoleMadeKeys(litellm, lab.guid, deps.config.labUserBase);
    if (records.length === 0) return lab;
  }
  return underLease(lab.guid, deps.lease, async (held) => {
    const current = held.lab;
    // Another request took it over (or provisioned it) while this one waited: the lab as it is now.
    if (!claimable(current)) return current;
    if (current.roleMade) {
      await held.release((leased) => ({ ...leased, client: caller.client }));
      log.info('claimed a lab taken over from the Ansible role', { guid: lab.guid, client: caller.client });
      return held.lab;
    }
    if (records.length === 0) return current;
    await held.release((leased) => takenOverLab(leased, records, target.name, caller.client, deps.now()));
    log.info('took over the keys the Ansible role made', {
      guid: lab.guid,
      client: caller.client,
      target: target.name,
      aliases: held.lab.keys.map((key) => key.alias),
    });
    return held.lab;
  });
}
