#!/usr/bin/env node
/**
 * Builds one commit apart from the work tree, so figures name exactly what they measured while
 * others edit src/: `git archive <rev>` into a temp dir, node_modules linked from this tree,
 * `tsc -p tsconfig.build.json`, and a COMMIT file beside dist/. Prints the dist path:
 *
 *     STRATA_BENCH_DIST=$(node bench/clean-build.mjs [rev]) node bench/run.js --quick
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './lib/proc.mjs'

const rev = process.argv[2] ?? 'HEAD'
const sha = execFileSync('git', ['rev-parse', rev], { cwd: ROOT, encoding: 'utf8' }).trim()
const dir = mkdtempSync(join(tmpdir(), `strata-build-${sha.slice(0, 10)}-`))
execFileSync('sh', ['-c', `git archive ${sha} | tar -x -C "${dir}"`], { cwd: ROOT, stdio: 'inherit' })
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
try {
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  )
} catch {
  process.stderr.write('tsc reported errors (output was still emitted)\n')
}
writeFileSync(join(dir, 'COMMIT'), `${sha}\n`)
process.stdout.write(`${join(dir, 'dist')}\n`)
