import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool } from 'undici';
import type { LiteLlmTarget } from '../config.ts';
import { log, redact } from '../log.ts';
import { LiteLlmResponseError, LiteLlmUnavailableError } from './errors.ts';

export interface CallOptions {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** Safe to send again after a timeout or reset: every call we make pins its effect (our own key value). */
  readonly retry: boolean;
  /** Statuses the caller handles itself; they come back as `{ status, body }` instead of an error. */
  readonly expect?: readonly number[];
  /** Authenticate as this key instead of the master key (probing whether a virtual key still works). */
  readonly bearer?: string;
}

export interface CallResult {
  readonly status: number;
  readonly body: unknown;
}

const pools = new Map<string, Pool>();

/** Connections are kept per origin across invocations; the per-container cap lives here. */
function poolFor(origin: string, target: LiteLlmTarget): Pool {
  const id = `${origin}|${target.verifyTls}|${target.maxConnections}`;
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

/** LiteLLM's error type and message from any of its error bodies (ProxyException, FastAPI, plain). */
export function errorFromBody(body: unknown): { type?: string; message: string } {
  if (body && typeof body === 'object') {
    const { error, detail } = body as { error?: unknown; detail?: unknown };
    if (error && typeof error === 'object') {
      const { message, type } = error as { message?: unknown; type?: unknown };
      return { type: typeof type === 'string' ? type : undefined, message: String(message ?? '') };
    }
    if (typeof error === 'string') return { message: error };
    if (detail !== undefined)
      return { message: typeof detail === 'string' ? detail : JSON.stringify(detail) };
  }
  return { message: typeof body === 'string' ? body.slice(0, 300) : 'no error body' };
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
 * Sends LiteLLM management calls with the master key. Retries, with jittered exponential backoff,
 * only calls marked `retry`, and only on resets, timeouts and 5xx; never past `deadline`.
 */
export class LiteLlmTransport {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    private readonly target: LiteLlmTarget,
    private readonly masterKey: string,
    private readonly deadline: () => number = () => Number.POSITIVE_INFINITY,
  ) {
    const url = new URL(target.url);
    this.pool = poolFor(url.origin, target);
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  async call(options: CallOptions): Promise<CallResult> {
    const endpoint = `${options.method} ${options.path}`;
    const attempts = options.retry ? this.target.retries + 1 : 1;
    let lastReason = 'no attempt made';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const remaining = this.deadline() - Date.now();
      if (remaining <= 0) break;
      try {
        const response = await this.pool.request({
          method: options.method,
          path: this.pathWithQuery(options),
          headers: {
            authorization: `Bearer ${options.bearer ?? this.masterKey}`,
            accept: 'application/json',
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(Math.min(this.target.timeoutMs, remaining)),
        });
        const body = await readBody(response);
        if (response.statusCode < 400 || options.expect?.includes(response.statusCode)) {
          return { status: response.statusCode, body };
        }
        const { type, message } = errorFromBody(body);
        if (response.statusCode < 500) {
          throw new LiteLlmResponseError(endpoint, response.statusCode, type, redact(message));
        }
        lastReason = `HTTP ${response.statusCode}`;
      } catch (error) {
        if (error instanceof LiteLlmResponseError) throw error;
        const reason = transientReason(error);
        if (!reason) throw new LiteLlmUnavailableError(endpoint, redact(String(error)), { cause: error });
        lastReason = reason;
      }
      if (attempt < attempts) {
        const delay = Math.random() * Math.min(2000, 100 * 2 ** attempt);
        if (Date.now() + delay >= this.deadline()) break;
        log.warn('litellm call failed, retrying', { endpoint, attempt, reason: lastReason });
        await sleep(delay);
      }
    }
    throw new LiteLlmUnavailableError(endpoint, `${lastReason} after ${attempts} attempt(s)`);
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
