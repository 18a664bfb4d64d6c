import type { LabKey, Recheck } from '../ledger/lab-record.ts';

/**
 * Keys leaving the ledger (deleted, or given up) whose /key/generate may still land: LiteLLM can
 * apply a request after its caller stopped waiting. Each is looked for again until its intent is
 * `graceMs` old, and deleted if it turns up.
 */
export function rechecksFor(keys: readonly LabKey[], graceMs: number, now: Date): Recheck[] {
  return keys.flatMap((key) => {
    const until = Date.parse(key.createdAt) + graceMs;
    return until > now.getTime()
      ? [{ alias: key.alias, target: key.target, keyId: key.keyId, until: new Date(until).toISOString() }]
      : [];
  });
}

/**
 * Keys the ledger lets go of because LiteLLM no longer showed them (deleted outside the service, or
 * a proxy restored from an older backup): looked for again until they would have expired anyway,
 * so one that comes back is deleted rather than left live with no record.
 */
export function rechecksUntilExpiry(keys: readonly LabKey[], graceMs: number): Recheck[] {
  return keys.map((key) => {
    const graceEnd = Date.parse(key.createdAt) + graceMs;
    const expiry = key.expiresAt ? Date.parse(key.expiresAt) : graceEnd;
    return {
      alias: key.alias,
      target: key.target,
      keyId: key.keyId,
      until: new Date(Math.max(graceEnd, expiry)).toISOString(),
    };
  });
}

/** The rechecks of both lists, one per key id (the newer wins). */
export function mergeRechecks(current: readonly Recheck[], added: readonly Recheck[]): Recheck[] {
  const byId = new Map(current.map((recheck) => [recheck.keyId, recheck]));
  for (const recheck of added) byId.set(recheck.keyId, recheck);
  return [...byId.values()];
}
