import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { Deadline } from '../deadline.ts';
import { durationMs, parseDuration } from '../duration.ts';
import { DynamoLabStore, type LabStore } from '../ledger/lab-store.ts';
import type { LeaseDeps } from '../ledger/lease.ts';
import type { MasterKeys } from '../targets/master-keys.ts';
import { TargetConnections, type TargetDeps, type Targets } from '../targets/target-connections.ts';
import { type KeyVault, KmsKeyVault } from '../vault/key-vault.ts';

/** KMS serves thousands of requests a second per account; ten at once keeps a lab of 200 users quick. */
const KEY_WORK_CONCURRENCY = 10;

/**
 * What an operation works with in one invocation, built once per invocation: the LiteLLM targets
 * (each connected on first use, every call bounded by the deadline), the ledger, the vault that
 * seals key values, the lease protocol's settings, and the clock.
 */
export interface InvocationDeps {
  readonly config: Config;
  /** The deployment's LiteLLM proxies; an operation connects to its lab's. */
  readonly targets: Targets;
  readonly store: LabStore;
  readonly vault: KeyVault;
  /** Per-key KMS work at most this many at a time; LiteLLM's calls have their own cap per target. */
  readonly concurrency: number;
  readonly deadline: Deadline;
  /** Who holds a lab's lease while this invocation works, and until when. */
  readonly lease: LeaseDeps;
  /** How long after a key's /key/generate was announced a late apply of it is looked for. */
  readonly reconcileGraceMs: number;
  readonly now: () => Date;
}

/** An operation on one lab: the invocation's deps with the lab's LiteLLM target connected. */
export type TargetedDeps = InvocationDeps & TargetDeps;

export function graceMs(config: Pick<Config, 'reconcileGrace'>): number {
  const parsed = parseDuration(config.reconcileGrace);
  return parsed ? durationMs(parsed) : 0;
}

/** `marginMs` of the invocation is kept back from every call, to still answer (and report) at the end. */
export function invocationDeps(
  config: Config,
  context: Context,
  masterKeys: MasterKeys,
  marginMs: number,
): InvocationDeps {
  const deadline = Deadline.ofInvocation(context, marginMs);
  const store = new DynamoLabStore(config.labsTable);
  const now = () => new Date();
  return {
    config,
    targets: new TargetConnections(config.targets, masterKeys, deadline),
    store,
    vault: new KmsKeyVault(config.keyValuesKmsKeyId),
    concurrency: KEY_WORK_CONCURRENCY,
    deadline,
    lease: {
      store,
      owner: `${context.functionName}:${context.awsRequestId}:${randomUUID().slice(0, 8)}`,
      deadline,
      now,
    },
    reconcileGraceMs: graceMs(config),
    now,
  };
}
