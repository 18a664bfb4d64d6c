/**
 * `npm run package`: `osls package` that leaves nothing in the temp folder (see runServerless),
 * writing into `.serverless/` unless `--package <folder>` names another.
 */
import './check-node.mjs';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServerless } from '../test/support/fixtures/package-service.ts';
import { withAbsolutePackage } from './deploy-plan.ts';

const args = withAbsolutePackage(process.argv.slice(2));
const named = args.some((arg) => arg === '--package' || arg.startsWith('--package='));
const out = named ? undefined : mkdtempSync(join(tmpdir(), 'litellm-virtual-keys-package-'));
try {
  const run = runServerless(['package', ...args, ...(out ? ['--package', out] : [])], { stdio: 'inherit' });
  if (out && run.status === 0) {
    rmSync('.serverless', { recursive: true, force: true });
    cpSync(out, '.serverless', { recursive: true });
  }
  process.exitCode = run.status ?? 1;
} finally {
  if (out) rmSync(out, { recursive: true, force: true });
}
