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

/** The rechecks of both lists, one per key id (the newer wins). */
export function mergeRechecks(current: readonly Recheck[], added: readonly Recheck[]): Recheck[] {
  const byId = new Map(current.map((recheck) => [recheck.keyId, recheck]));
  for (const recheck of added) byId.set(recheck.keyId, recheck);
  return [...byId.values()];
}
