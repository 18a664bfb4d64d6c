import { ConfigError } from './errors.ts';
import { SETTINGS, type SettingName } from './settings.ts';

/**
 * Readers of environment variables that fail naming the variable; shared by every function's
 * configuration. An unset or blank variable takes its declared default (lib/settings.ts).
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** The variable's value, else its declared default; undefined when it has neither. */
function setOrDefault(env: Env, name: SettingName): string | undefined {
  return env[name]?.trim() || SETTINGS[name].default;
}

/** `fallback` replaces the declared default where it derives from another variable. */
export function text(env: Env, name: SettingName, fallback = SETTINGS[name].default): string {
  const value = env[name]?.trim() || fallback;
  if (value === undefined) throw new ConfigError(`${name} is required`);
  return value;
}

export function integer(env: Env, name: SettingName, min: number): number {
  const value = Number(setOrDefault(env, name));
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer >= ${min}`);
  return value;
}

export function flag(env: Env, name: SettingName): boolean {
  const value = setOrDefault(env, name)?.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`${name} must be true or false`);
}

/** A comma-separated list; blanks dropped. */
export function list(env: Env, name: SettingName): string[] {
  return (setOrDefault(env, name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
