import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool } from 'undici';
import type { LiteLlmTarget } from '../config.ts';
import { Deadline } from '../deadline.ts';
import { log, redact } from '../log.ts';
import { publishLiteLlmUnavailable } from '../metrics.ts';
import { classify, readErrorBody } from './error-catalogue.ts';
import { LiteLlmResponseError, LiteLlmUnavailableError } from './errors.ts';

export interface CallOptions {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** Authenticate as this key instead of the master key; every answer then comes back as it is. */
  readonly bearer?: string;
}

export interface CallResult {
  readonly status: number;
  readonly body: unknown;
}

/** An attempt (with its pause) shorter than this is not worth starting. */
const MIN_ATTEMPT_MS = 250;

const pools = new Map<string, Pool>();

/** Connections are kept per target across invocations; each target's per-container cap lives here. */
function poolFor(origin: string, target: LiteLlmTarget): Pool {
  const id = `${target.name}|${origin}|${target.verifyTls}|${target.maxConnections}`;
  let pool = pools.get(id);
  if (!pool) {
    pool = new Pool(origin, {
      connections: target.maxConnections,
      connect: { rejectUnauthorized: target.verifyTls },
      headersTimeout: target.timeoutMs,
      bodyTimeout: target.timeoutMs,
    });
    pools.set(id, pool);
  }
  return pool;
}

/** Close every pooled connection (tests and the local runner, so the process can exit). */
export async function closeLiteLlmConnections(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.close()));
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function transientReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'TimeoutError') return 'timed out';
  const code = (error as { code?: string }).code;
  if (code && RETRYABLE_CODES.has(code)) return code;
  return undefined;
}

async function readBody(response: Dispatcher.ResponseData): Promise<unknown> {
  const text = await response.body.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * 5xx is worth another attempt, and so is a 429 to the master key (a rate limiter in front of or
 * inside the proxy); a 429 to a virtual key is an answer about that key (over budget, v1.93 on).
 */
function isRetryableStatus(status: number, asVirtualKey: boolean): boolean {
  return status >= 500 || (status === 429 && !asVirtualKey);
}

/**
 * Sends LiteLLM calls. Every call we make is safe to repeat (each key's value is pinned before
 * LiteLLM sees it), so resets, timeouts, 429 and 5xx are retried with jittered exponential
 * backoff. Attempts share what is left of the deadline: each gets at most an equal part of it (and
 * at most the target's timeout), so the last attempt still has time to be made.
 */
export class LiteLlmTransport {
  private readonly pool: Pool;
  private readonly basePath: string;
  /** An invocation has one transport per target: the target's unavailability is counted once per operation. */
  #unavailableCounted = false;

  constructor(
    private readonly target: LiteLlmTarget,
    private readonly masterKey: string,
    private readonly deadline: Deadline = Deadline.NONE,
    private readonly onMasterKeyRefused: () => void = () => undefined,
  ) {
    const url = new URL(target.url);
    this.pool = poolFor(url.origin, target);
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /**
   * One call. With the master key, a 4xx is thrown as a LiteLlmResponseError carrying its fault
   * (see error-catalogue.ts); with another `bearer`, every answer is returned for the caller to read.
   */
  async call(options: CallOptions): Promise<CallResult> {
    const endpoint = `${options.method} ${options.path}`;
    const planned = this.target.retries + 1;
    let made = 0;
    let lastReason = 'no time was left to make it';
    for (let attempt = 1; attempt <= planned; attempt++) {
      const remaining = this.deadline.remainingMs();
      if (remaining < Math.min(MIN_ATTEMPT_MS, this.target.timeoutMs)) break;
      // Each attempt and the pause after it fit in an equal share of what is left.
      const share = Math.max(MIN_ATTEMPT_MS, remaining / (planned - attempt + 1));
      const timeout = Math.floor(Math.min(this.target.timeoutMs, share * 0.8, remaining));
      made++;
      try {
        const response = await this.send(options, timeout);
        const body = await readBody(response);
        const status = response.statusCode;
        const retryable = isRetryableStatus(status, options.bearer !== undefined);
        if (status < 400 || (options.bearer !== undefined && !retryable)) return { status, body };
        if (!retryable) throw this.answerError(endpoint, status, body);
        lastReason = `HTTP ${status}`;
      } catch (error) {
        if (error instanceof LiteLlmResponseError) throw error;
        const reason = transientReason(error);
        if (!reason) throw this.unavailable(endpoint, redact(String(error)), { cause: error });
        lastReason = reason;
      }
      if (attempt < planned) {
        const delay = Math.random() * Math.min(2000, 100 * 2 ** attempt, share * 0.2);
        if (this.deadline.wouldPass(delay + MIN_ATTEMPT_MS)) break;
        log.warn('litellm call failed, retrying', { endpoint, attempt, reason: lastReason });
        await sleep(delay);
      }
    }
    // No attempt made means this invocation's deadline ran out, not that the target is down.
    if (made === 0) throw new LiteLlmUnavailableError(endpoint, `${lastReason} after ${made} attempt(s)`);
    throw this.unavailable(endpoint, `${lastReason} after ${made} attempt(s)`);
  }

  private unavailable(endpoint: string, reason: string, options?: ErrorOptions): LiteLlmUnavailableError {
    if (!this.#unavailableCounted) publishLiteLlmUnavailable(this.target.name);
    this.#unavailableCounted = true;
    return new LiteLlmUnavailableError(endpoint, reason, options);
  }

  private send(options: CallOptions, timeoutMs: number): Promise<Dispatcher.ResponseData> {
    return this.pool.request({
      method: options.method,
      path: this.pathWithQuery(options),
      headers: {
        authorization: `Bearer ${options.bearer ?? this.masterKey}`,
        accept: 'application/json',
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  private answerError(endpoint: string, status: number, body: unknown): LiteLlmResponseError {
    const answer = readErrorBody(endpoint, status, body);
    const redacted = { ...answer, message: redact(answer.message) };
    const { fault } = classify(answer);
    if (fault === 'master-key-refused') this.onMasterKeyRefused();
    return new LiteLlmResponseError(redacted, fault);
  }

  private pathWithQuery(options: CallOptions): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) params.set(name, String(value));
    }
    const query = params.toString();
    return `${this.basePath}${options.path}${query ? `?${query}` : ''}`;
  }
}
