/**
 * The Node version guard of every entry point: npm scripts run it first (`npm run check-node`),
 * and scripts, benches and test files import it before anything else, since on another Node than
 * 22 the dependencies fail deep inside undici. It imports nothing, so it runs before any of them.
 */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major !== 22 || minor < 19) {
  process.stderr.write(
    `Node 22.19 or newer 22.x is required (Lambda runs nodejs22.x); this is Node ${process.version}.\n` +
      'npm scripts run on the Node 22 that `npm ci` installs (the node@22 devDependency), so either\n' +
      'the install ran with --ignore-scripts (run `npm ci` again without it), or this was started\n' +
      'outside npm with another Node first on the path (a direct `tsx` or `node` call): use\n' +
      '`npx tsx ...`, which finds the installed Node 22, or an npm script.\n',
  );
  process.exit(1);
}
