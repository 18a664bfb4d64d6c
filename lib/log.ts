import { SETTINGS } from './settings.ts';

/**
 * One-line JSON logs, as CloudWatch Logs Insights reads them. Every line is scrubbed twice: any
 * `sk-` token (LiteLLM keys and master keys all start so) and every value registered as secret.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SK_TOKEN = /sk-[A-Za-z0-9_\-.~+/=]{4,}/g;
const secrets = new Set<string>();
const threshold =
  LEVELS[process.env.LOG_LEVEL?.trim().toLowerCase() as Level] ?? LEVELS[SETTINGS.LOG_LEVEL.default as Level];
let context: Record<string, unknown> = {};

/** Values that must never be written, whatever their shape (API tokens, database URLs). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value);
}

/** Replace every secret in a string; used for logs and for upstream messages shown to callers. */
export function redact(text: string): string {
  let out = text.replace(SK_TOKEN, 'sk-[redacted]');
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}

/** Fields added to every line of the current invocation (request id, function name). */
export function setLogContext(fields: Record<string, unknown>): void {
  context = fields;
}

function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : undefined;
  return { error: { name: error.name, message: error.message, cause, stack: error.stack } };
}

function write(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  if (LEVELS[level] < threshold) return;
  const { err, ...rest } = fields;
  const entry = {
    level,
    time: new Date().toISOString(),
    message,
    ...context,
    ...rest,
    ...(err === undefined ? {} : errorFields(err)),
  };
  process.stdout.write(`${redact(JSON.stringify(entry))}\n`);
}

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => write('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write('error', message, fields),
};
