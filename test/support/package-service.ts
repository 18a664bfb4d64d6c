import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The Serverless CLI (offline, no telemetry) with `args`, its temp files in a folder of its own,
 * removed when it ends: serverless-esbuild stages each function's zip in the temp folder and its
 * clean-up is not recursive, so every run would otherwise leave a folder per function behind.
 */
export function runServerless(args: readonly string[], options: { stdio?: 'inherit' | 'pipe' } = {}) {
  const scratch = mkdtempSync(join(tmpdir(), 'litellm-virtual-keys-sls-'));
  try {
    return spawnSync(process.execPath, ['node_modules/osls/bin/serverless.js', ...args], {
      encoding: 'utf8',
      stdio: options.stdio ?? 'pipe',
      env: { ...process.env, TMPDIR: scratch, SLS_TELEMETRY_DISABLED: '1' },
      timeout: 300_000,
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
