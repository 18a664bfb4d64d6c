'use strict';
/**
 * Local conveniences of this service's Serverless CLI runs; none changes what is deployed.
 *
 * `serverless invoke local` loads a handler with require(), trying `<handler>.js` and `.cjs` but
 * never the `.mjs` bundles this service deploys. After serverless-esbuild has bundled the function,
 * a one-line `.cjs` next to the bundle hands it over (Node 22 can require an ES module). It is
 * removed when the process exits, so a later `serverless package` never zips it. A lab event's
 * `time` is set to now, as `npm run invoke` does: a sample's fixed time would be older than the
 * lab's last change, and the function would refuse it as stale.
 *
 * serverless-esbuild stages each function's zip in a temp folder `<function>-<pid>-<ms>-<hex>` and
 * removes it without recursion, which fails on the copied files: every package run would leave
 * one folder per function in the temp dir. They are removed once the zips are made.
 */
const { existsSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { basename, join } = require('node:path');

class InvokeLocalEsm {
  constructor(serverless, options) {
    const removeZipStaging = () => {
      const staging = new RegExp(`^(.+)-${process.pid}-\\d+-[0-9a-f]{8}$`);
      const functions = new Set(serverless.service.getAllFunctions());
      for (const name of readdirSync(tmpdir())) {
        const fn = staging.exec(name)?.[1];
        if (fn && functions.has(fn)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
      }
    };
    this.hooks = {
      'before:invoke:local:invoke': () => {
        const fn = serverless.service.getFunction(options.function);
        const file = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
        const event = options.data;
        if (event && typeof event === 'object' && typeof event['detail-type'] === 'string') {
          event.time = new Date().toISOString();
        }
        // serverless-esbuild has pointed servicePath at its build folder by now.
        const bundle = join(serverless.config.servicePath, `${file}.mjs`);
        if (!existsSync(bundle)) return;
        const shim = join(serverless.config.servicePath, `${file}.cjs`);
        writeFileSync(shim, `module.exports = require('./${basename(bundle)}');\n`);
        process.once('exit', () => rmSync(shim, { force: true }));
      },
      'after:package:createDeploymentArtifacts': removeZipStaging,
      'after:deploy:function:packageFunction': removeZipStaging,
    };
  }
}

module.exports = InvokeLocalEsm;
