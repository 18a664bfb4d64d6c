import type { Caller } from '../auth/client-grants.ts';
import { NotFoundError, Problem } from '../errors.ts';
import type { Lab } from '../ledger/lab-record.ts';

/** A provision of a guid another client's lab holds: refused without naming that client or its settings. */
export class GuidTakenError extends Problem {
  override name = 'GuidTakenError';
  constructor(guid: string) {
    super(
      409,
      'guid-taken',
      'The guid is another client’s lab',
      `guid ${guid} is a lab of another API client; nothing was created or handed out: choose another guid`,
    );
  }
}

/** Whether the lab has an owner now: from its first provision until its destroy. */
const owned = (lab: Lab) => lab.state !== undefined && lab.state !== 'destroyed';

/**
 * A lab belongs to the client that created it, until it is destroyed: another client's provision
 * of its guid is a 409, whatever scopes that client has, and never a replay of its keys.
 */
export function refuseForeignGuid(caller: Caller, lab: Lab): void {
  if (owned(lab) && lab.client !== caller.client) throw new GuidTakenError(lab.guid);
}

/**
 * Another client's lab is not there for a client without `all-labs`: the same 404 as a lab the
 * ledger has never seen (which such a client cannot tell apart), so its existence is not revealed.
 */
export function refuseForeignLab(caller: Caller, lab: Lab): void {
  if (caller.scopes.has('all-labs')) return;
  if (lab.client !== caller.client) throw new NotFoundError(`lab ${lab.guid} has no key`);
}
