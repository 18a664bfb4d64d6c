import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { Deadline } from '../deadline.ts';
import { KeyStore } from '../key-store.ts';
import { KeyClaims } from '../ledger/key-claims.ts';
import { LabLedger } from '../ledger/lab-ledger.ts';
import type { MasterKeys } from '../targets/master-keys.ts';
import { TargetConnections, type TargetDeps } from '../targets/target-connections.ts';

/** Secrets Manager serves a few dozen requests at once per caller without throttling; ten keeps a lab of 200 users quick. */
const KEY_WORK_CONCURRENCY = 10;

/**
 * What an operation works with in one invocation, built once per invocation: the LiteLLM targets
 * (each connected on first use, every call bounded by the deadline), the key values, the ledger,
 * who holds a lab's lease, and the clock.
 */
export interface InvocationDeps {
  readonly config: Config;
  /** The deployment's LiteLLM proxies; an operation connects to its lab's. */
  readonly targets: TargetConnections;
  /** The key values, in Secrets Manager under the deployment's prefix. */
  readonly keyStore: KeyStore;
  /**
   * Per-key Secrets Manager work at most this many at a time; LiteLLM's calls have their own cap
   * (each target's max_connections, in its client's pool).
   */
  readonly concurrency: number;
  readonly deadline: Deadline;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly leaseOwner: string;
  readonly now: () => Date;
}

/** An operation on one lab: the invocation's deps with the lab's LiteLLM target connected. */
export type TargetedDeps = InvocationDeps & TargetDeps;

/** `marginMs` of the invocation is kept back from every call, to still answer (and report) at the end. */
export function invocationDeps(
  config: Config,
  context: Context,
  masterKeys: MasterKeys,
  marginMs: number,
): InvocationDeps {
  const deadline = Deadline.ofInvocation(context, marginMs);
  return {
    config,
    targets: new TargetConnections(config.targets, masterKeys, deadline),
    keyStore: new KeyStore(config.keySecretPrefix, config.keySecretProtection),
    concurrency: KEY_WORK_CONCURRENCY,
    deadline,
    ledger: new LabLedger(config.labsTable),
    claims: new KeyClaims(config.labsTable),
    leaseOwner: `${context.functionName}:${context.awsRequestId}:${randomUUID().slice(0, 8)}`,
    now: () => new Date(),
  };
}
