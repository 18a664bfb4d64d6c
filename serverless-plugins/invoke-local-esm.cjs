'use strict';
/**
 * `serverless invoke local` loads a handler with require(), trying `<handler>.js` and `.cjs` but
 * never the `.mjs` bundles this service deploys. After serverless-esbuild has bundled the function,
 * a one-line `.cjs` next to the bundle hands it over (Node 22 can require an ES module).
 */
const { existsSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

class InvokeLocalEsm {
  constructor(serverless, options) {
    this.hooks = {
      'before:invoke:local:invoke': () => {
        const fn = serverless.service.getFunction(options.function);
        const file = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
        // serverless-esbuild has pointed servicePath at its build folder by now.
        const dir = serverless.config.servicePath;
        const bundle = join(dir, `${file}.mjs`);
        if (!existsSync(bundle)) return;
        writeFileSync(join(dir, `${file}.cjs`), `module.exports = require('./${basename(bundle)}');\n`);
      },
    };
  }
}

module.exports = InvokeLocalEsm;
