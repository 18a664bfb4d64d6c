import type { Deadline } from '../deadline.ts';
import { isFault, LiteLlmUnavailableError } from '../litellm/errors.ts';
import { judgeRelease, NEWEST_CHECKED_ON, NEWEST_TESTED, OLDEST_SUPPORTED } from '../litellm/release.ts';
import { LiteLlmTransport } from '../litellm/transport.ts';
import { problemOf, toProblem } from '../problems.ts';
import type { LiteLlmTarget } from '../target-config.ts';
import type { Targets } from '../targets/target-connections.ts';

/**
 * Why a target is not ready, as a fixed word: what LiteLLM or AWS said goes to the log only, since
 * any API client may read the answer.
 */
export type NotReadyReason =
  | 'master-key-unreadable'
  | 'master-key-refused'
  | 'unreachable'
  | 'database-down'
  | 'not-ready'
  | 'older-than-supported'
  | 'unexpected-answer';

/** One LiteLLM target as GET /health reports it: never its URL, master key or LiteLLM's own words. */
export interface TargetHealth {
  /** LiteLLM's `/health/readiness` answered healthy, its database connected, on a supported release. */
  readonly ready: boolean;
  /** Why not `ready`. */
  readonly reason?: NotReadyReason;
  /** The release the proxy reported, when it reads as one. */
  readonly litellm_version: string | null;
  /** `supported`, `newer` (than the newest checked), `older` (than the oldest supported) or `unknown`. */
  readonly release: string;
  /** The release is among those this service was checked against. */
  readonly release_checked: boolean;
  /** Why the release is not a checked one. */
  readonly message?: string;
}

/** A target's health, and for the log alone what its failure was (LiteLLM's or AWS's words). */
export interface TargetCheck {
  readonly health: TargetHealth;
  readonly detail?: string;
}

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

function releaseMessage(verdict: string, version: string | undefined): string | undefined {
  switch (verdict) {
    case 'newer':
      return `LiteLLM ${version} is newer than the newest release checked (${NEWEST_TESTED}, on ${NEWEST_CHECKED_ON}); it is handled as that one`;
    case 'older':
      return `LiteLLM ${version} is older than the oldest supported release (${OLDEST_SUPPORTED}); provisions are refused`;
    case 'unknown':
      return 'the proxy does not tell its release (neither /health/readiness nor /health/readiness/details)';
    default:
      return undefined;
  }
}

/**
 * `/health/readiness`, and for its release `/health/readiness/details` where the proxy keeps it
 * behind the master key (as release.ts reads it): one attempt each, read afresh (not the release
 * cached for operations), bounded by the invocation's deadline.
 */
async function readReadiness(target: LiteLlmTarget, masterKey: string, deadline: Deadline) {
  const transport = new LiteLlmTransport({ ...target, retries: 0 }, masterKey, deadline);
  const { body } = await transport.call({ method: 'GET', path: '/health/readiness' });
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  let version = text(fields.litellm_version);
  if (!version) {
    try {
      const details = await transport.call({ method: 'GET', path: '/health/readiness/details' });
      version = text((details.body as { litellm_version?: unknown } | undefined)?.litellm_version);
    } catch (error) {
      if (!isFault(error, 'route-not-found')) throw error;
    }
  }
  return { status: text(fields.status), db: text(fields.db), version };
}

/**
 * Why readiness is not ready. A proxy whose database is down says so in `db`, or, from the
 * releases that cache the check, with `status: "disconnected"`.
 */
function readinessReason(status: string | undefined, db: string | undefined): NotReadyReason | undefined {
  if (status === 'disconnected' || (db !== undefined && db !== 'connected')) return 'database-down';
  return status === 'healthy' ? undefined : 'not-ready';
}

function failureReason(error: unknown): NotReadyReason {
  if (error instanceof LiteLlmUnavailableError) return 'unreachable';
  if (isFault(error, 'master-key-refused') || isFault(error, 'master-key-not-admin')) {
    return 'master-key-refused';
  }
  return 'unexpected-answer';
}

const failed = (reason: NotReadyReason, error: unknown): TargetCheck => ({
  health: { ready: false, reason, litellm_version: null, release: 'unknown', release_checked: false },
  detail: problemOf(toProblem(error)).detail,
});

export async function targetHealth(
  target: LiteLlmTarget,
  targets: Targets,
  deadline: Deadline,
): Promise<TargetCheck> {
  let masterKey: string;
  try {
    masterKey = (await targets.connect(target)).secret.masterKey;
  } catch (error) {
    return failed('master-key-unreadable', error);
  }
  try {
    const readiness = await readReadiness(target, masterKey, deadline);
    const release = judgeRelease(readiness.version);
    const message = releaseMessage(release.verdict, readiness.version);
    const reason =
      readinessReason(readiness.status, readiness.db) ??
      (release.verdict === 'older' ? 'older-than-supported' : undefined);
    return {
      health: {
        ready: reason === undefined,
        ...(reason ? { reason } : {}),
        litellm_version: release.verdict === 'unknown' ? null : (readiness.version ?? null),
        release: release.verdict,
        release_checked: release.verdict === 'supported',
        ...(message ? { message } : {}),
      },
      ...(reason && reason !== 'older-than-supported'
        ? { detail: `readiness status ${readiness.status}, db ${readiness.db}` }
        : {}),
    };
  } catch (error) {
    return failed(failureReason(error), error);
  }
}
