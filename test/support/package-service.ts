import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * The Serverless CLI (offline, no telemetry) with `args`, run from the service folder, with its
 * temp files and its esbuild work folder its own and removed when it ends:
 * - serverless-esbuild stages each function's zip in the temp folder and its clean-up is not
 *   recursive, so every run would otherwise leave a folder per function behind;
 * - test files run two at a time, and two runs sharing `.esbuild` delete each other's bundles.
 */
export function runServerless(
  args: readonly string[],
  options: { stdio?: 'inherit' | 'pipe'; env?: NodeJS.ProcessEnv; timeout?: number } = {},
) {
  const scratch = mkdtempSync(join(tmpdir(), 'litellm-virtual-keys-sls-'));
  const workFolder = `.esbuild-${basename(scratch)}`;
  try {
    return spawnSync(process.execPath, ['node_modules/osls/bin/serverless.js', ...args], {
      encoding: 'utf8',
      stdio: options.stdio ?? 'pipe',
      env: {
        ...process.env,
        ...options.env,
        TMPDIR: scratch,
        SLS_TELEMETRY_DISABLED: '1',
        SLS_ESBUILD_WORK_FOLDER: workFolder,
      },
      timeout: options.timeout ?? 300_000,
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(workFolder, { recursive: true, force: true });
  }
}
