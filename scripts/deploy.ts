/**
 * `npm run deploy -- --stage <stage> [osls deploy options]`: `osls deploy` in a folder of its own
 * (runServerless: nothing left in the temp folder or the repository), then the API URL.
 */
import './check-node.mjs';
import { runServerless } from '../test/support/fixtures/package-service.ts';
import { deploy } from './deploy-plan.ts';

const { status, lines } = deploy(process.argv.slice(2), (args, stdio) => {
  const run = runServerless(args, { stdio });
  return { status: run.status, stdout: run.stdout };
});
for (const line of lines) (status === 0 ? process.stdout : process.stderr).write(`${line}\n`);
process.exitCode = status;
