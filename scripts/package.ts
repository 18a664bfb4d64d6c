/** `npm run package`: `osls package` that leaves nothing in the temp folder (see runServerless). */
import './check-node.mjs';
import { runServerless } from '../test/support/fixtures/package-service.ts';

process.exit(runServerless(['package', ...process.argv.slice(2)], { stdio: 'inherit' }).status ?? 1);
