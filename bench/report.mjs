#!/usr/bin/env node
/**
 * Renders results files as the Markdown of bench/RESULTS.md: for each file, the machine, the
 * commit, the exact command and load, then its tables (and the targets, for a suite run).
 *
 *     node bench/report.mjs bench/results/quick-….json [bench/results/compare-….json …]
 */
import { readFileSync } from 'node:fs'
import { evaluateTargets, renderResults, renderTargets } from './lib/report.mjs'

for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8'))
  const m = r.machine
  const head = [
    `- command: \`${r.command}\`${r.dist && !r.dist.endsWith('/main/dist') ? ` with \`STRATA_BENCH_DIST\` = a clean build of the commit` : ''}`,
    `- commit: \`${r.commit.short}\` (${r.commit.subject})${r.commit.dirtySrcFiles ? `, +${r.commit.dirtySrcFiles} uncommitted src files` : ''}`,
    `- machine: ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, temp dir on ${m.tmpDisk?.fs ?? '?'} (${m.tmpDisk?.device ?? '?'})`,
    `- load average (1/5/15 min): ${m.loadavg.join(' / ')} at start${m.loadavgEnd ? `, ${m.loadavgEnd.join(' / ')} at end` : ''}`,
    `- file: \`${file}\`${r.started ? `, ${r.started}` : ''}${r.seconds ? `, ${r.seconds} s` : ''}`,
  ]
  if (r.results) {
    process.stdout.write(
      `${head.join('\n')}\n\n${renderResults(r.results)}\n\nTargets\n\n${renderTargets(r.targets ?? evaluateTargets(r.results))}\n\n`,
    )
  } else if (r.systems) {
    process.stdout.write(`${head.join('\n')}\n\n${r.table}\n\n`)
  }
}
