#!/usr/bin/env node
// `npm run demo`: compiles the TypeScript when dist/ is stale (as `npm start` does), then
// runs the demo (scripts/demo/main.ts) in this process, so that Ctrl-C reaches it.
'use strict';
require('../src/cli/build-if-stale.js');
require('../dist/scripts/demo/main.js')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
