import { ConfigError } from './errors.ts';

/** Readers of environment variables that fail naming the variable; shared by every function's configuration. */
export type Env = Readonly<Record<string, string | undefined>>;

export function text(env: Env, name: string, fallback?: string): string {
  const value = env[name]?.trim();
  if (value) return value;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`${name} is required`);
}

export function integer(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer >= ${min}`);
  return value;
}

export function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false`);
}

/** A share between 0 and 1. */
export function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new ConfigError(`${name} must be a number from 0 to 1`);
  return value;
}

/** A comma-separated list; blanks dropped. */
export function list(env: Env, name: string, fallback: string): string[] {
  return (env[name]?.trim() || fallback)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
