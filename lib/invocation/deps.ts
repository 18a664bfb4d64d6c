import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { Deadline } from '../deadline.ts';
import { KeyStore } from '../key-store.ts';
import { KeyClaims } from '../ledger/key-claims.ts';
import { LabLedger } from '../ledger/lab-ledger.ts';
import { LiteLlmClient } from '../litellm/client.ts';
import type { MasterSecret } from '../master-key.ts';

/** Secrets Manager serves a few dozen requests at once per caller without throttling; ten keeps a lab of 200 users quick. */
const KEY_WORK_CONCURRENCY = 10;

/**
 * What an operation works with in one invocation, built once per invocation: the LiteLLM client
 * (the master key from the loaded secret, every call bounded by the deadline), the key values, the ledger, who
 * holds a lab's lease, and the clock.
 */
export interface InvocationDeps {
  readonly config: Config;
  readonly secret: MasterSecret;
  readonly litellm: LiteLlmClient;
  /** The key values, in Secrets Manager under the deployment's prefix. */
  readonly keyStore: KeyStore;
  /**
   * Per-key Secrets Manager work at most this many at a time; LiteLLM's calls have their own cap
   * (LITELLM_MAX_CONNECTIONS, in its client's pool).
   */
  readonly concurrency: number;
  readonly deadline: Deadline;
  readonly ledger: LabLedger;
  readonly claims: KeyClaims;
  readonly leaseOwner: string;
  readonly target: string;
  readonly now: () => Date;
}

/** `marginMs` of the invocation is kept back from every call, to still answer (and report) at the end. */
export function invocationDeps(
  config: Config,
  context: Context,
  secret: MasterSecret,
  marginMs: number,
): InvocationDeps {
  const deadline = Deadline.ofInvocation(context, marginMs);
  return {
    config,
    secret,
    litellm: new LiteLlmClient(config.litellm, secret.masterKey, deadline),
    keyStore: new KeyStore(config.keySecretPrefix, config.keySecretProtection),
    concurrency: KEY_WORK_CONCURRENCY,
    deadline,
    ledger: new LabLedger(config.labsTable),
    claims: new KeyClaims(config.labsTable),
    leaseOwner: `${context.functionName}:${context.awsRequestId}:${randomUUID().slice(0, 8)}`,
    target: 'default',
    now: () => new Date(),
  };
}
