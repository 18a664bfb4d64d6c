import type { Deadline } from '../deadline.ts';
import { Problem } from '../errors.ts';
import { LiteLlmClient } from '../litellm/client.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { MasterSecret } from '../master-key.ts';
import { type LiteLlmTarget, requestedTarget } from '../target-config.ts';
import type { MasterKeys } from './master-keys.ts';

/** One LiteLLM proxy as an operation works with it: its configuration, master key and client. */
export interface TargetDeps {
  readonly target: LiteLlmTarget;
  readonly secret: MasterSecret;
  readonly litellm: KeyApi;
}

/** A target the ledger names but the deployment no longer configures: its labs wait for the configuration. */
export class UnknownTargetError extends Problem {
  override name = 'UnknownTargetError';
  constructor(name: string) {
    super(
      503,
      'litellm-target-unknown',
      'LiteLLM target not configured',
      `the lab is on LiteLLM target ${name}, which this deployment does not configure (LITELLM_TARGETS); ` +
        'nothing was changed: add the target back to reach its labs',
    );
  }
  override get retryAfterSeconds(): number {
    return 300;
  }
}

/** The deployment's LiteLLM proxies as operations reach them. */
export interface Targets {
  readonly names: readonly string[];
  /** The target a lab is recorded on; one the configuration lacks is a 503 naming it. */
  recorded(name: string): LiteLlmTarget;
  /** The target a request names; an unknown name is a 400 listing the known ones (those `shown`, if given). */
  requested(name: string, shown?: readonly string[]): LiteLlmTarget;
  /** The target's master key and client. */
  connect(target: LiteLlmTarget): Promise<TargetDeps>;
}

/**
 * The deployment's LiteLLM proxies for one invocation: a client per target, built on first use
 * with that target's own master key, pool, retries and the invocation's deadline. A target that
 * is never used is never read or called, so one that is down delays nothing else.
 */
export class TargetConnections implements Targets {
  readonly #connected = new Map<string, Promise<TargetDeps>>();

  constructor(
    private readonly targets: ReadonlyMap<string, LiteLlmTarget>,
    private readonly masterKeys: MasterKeys,
    private readonly deadline: Deadline,
  ) {}

  get names(): readonly string[] {
    return [...this.targets.keys()];
  }

  /** The target a lab is recorded on; one the configuration lacks is a 503 naming it. */
  recorded(name: string): LiteLlmTarget {
    const target = this.targets.get(name);
    if (!target) throw new UnknownTargetError(name);
    return target;
  }

  /** The target a request names; an unknown name is a 400 listing the known ones (those `shown`, if given). */
  requested(name: string, shown?: readonly string[]): LiteLlmTarget {
    return requestedTarget(this.targets, name, shown);
  }

  /** The target's master key and client, read and built once per invocation. */
  connect(target: LiteLlmTarget): Promise<TargetDeps> {
    let connected = this.#connected.get(target.name);
    if (!connected) {
      connected = this.open(target);
      this.#connected.set(target.name, connected);
      connected.catch(() => this.#connected.delete(target.name));
    }
    return connected;
  }

  private async open(target: LiteLlmTarget): Promise<TargetDeps> {
    const secret = await this.masterKeys.of(target);
    const litellm = new LiteLlmClient(target, secret.masterKey, this.deadline, () =>
      this.masterKeys.forget(target),
    );
    return { target, secret, litellm };
  }
}
