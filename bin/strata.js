#!/usr/bin/env node
// The `strata` command: a thin launcher for the compiled CLI (run `npm run build` first in a checkout).
import('../dist/src/main.js').then((m) => m.main(process.argv.slice(2)))
