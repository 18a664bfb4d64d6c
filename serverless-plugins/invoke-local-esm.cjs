'use strict';
/**
 * `serverless invoke local` loads a handler with require(), trying `<handler>.js` and `.cjs` but
 * never the `.mjs` bundles this service deploys. After serverless-esbuild has bundled the function,
 * a one-line `.cjs` next to the bundle hands it over (Node 22 can require an ES module). It is
 * removed when the process exits, so a later `serverless package` never zips it.
 */
const { existsSync, rmSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

class InvokeLocalEsm {
  constructor(serverless, options) {
    this.hooks = {
      'before:invoke:local:invoke': () => {
        const fn = serverless.service.getFunction(options.function);
        const file = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
        // serverless-esbuild has pointed servicePath at its build folder by now.
        const bundle = join(serverless.config.servicePath, `${file}.mjs`);
        if (!existsSync(bundle)) return;
        const shim = join(serverless.config.servicePath, `${file}.cjs`);
        writeFileSync(shim, `module.exports = require('./${basename(bundle)}');\n`);
        process.once('exit', () => rmSync(shim, { force: true }));
      },
    };
  }
}

module.exports = InvokeLocalEsm;
