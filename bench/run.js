#!/usr/bin/env node
/**
 * The benchmark suite: `npm run bench` (--quick, under 3 minutes) and `npm run bench:full`.
 *
 * Each scenario runs as its own process (a fresh JIT and heap) and starts its own broker on a temp
 * data dir and a loopback port. Results go to bench/results/<mode>-<time>-<commit>.json (commit,
 * machine, config, p50/p99/p99.9, throughput) and a table per kind is printed, then the issue's
 * targets. Options:
 *
 *   --only http,client,e2e,fanout,drain   run some scenarios
 *   --cpu-prof DIR                        write .cpuprofile files of the brokers (and the bench side)
 *   --no-trace                            do not count fsyncs with strace when the broker lacks /metrics
 *   --baseline FILE                       fail when throughput < 85% or latency > 1.2x of FILE's figures
 *   --no-save                             do not write a results file
 *
 * Benchmarks measure the build in dist/ (or STRATA_BENCH_DIST): run `npm run build` first
 * (the npm scripts do).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from './lib/cli.mjs'
import { commandLine, commitInfo, machineInfo } from './lib/env.mjs'
import { BROKER_EXTRA_ARGS, BROKER_MAIN, DIST, ROOT, tempDir } from './lib/proc.mjs'
import { evaluateTargets, renderResults, renderTargets } from './lib/report.mjs'

const MODES = {
  quick: {
    http: ['--duration', '4', '--warmup', '1'],
    client: ['--duration', '4', '--warmup', '1'],
    e2e: ['--duration', '5', '--warmup', '5', '--ack', 'manual,auto'],
    fanout: ['--records', '100000'],
    drain: ['--records', '200000', '--raw'],
    drainRepeat: 1,
  },
  full: {
    http: ['--duration', '15', '--warmup', '3'],
    client: ['--duration', '15', '--warmup', '3'],
    e2e: ['--duration', '30', '--warmup', '5', '--ack', 'manual,auto'],
    fanout: ['--records', '500000'],
    drain: ['--records', '200000', '--raw'],
    drainRepeat: 3,
  },
}

const SCENARIOS = [
  { key: 'http', script: 'http/produce.mjs' },
  { key: 'client', script: 'client/produce.mjs' },
  { key: 'e2e', script: 'e2e/latency.mjs' },
  { key: 'fanout', script: 'e2e/fanout.mjs' },
  { key: 'drain', script: 'e2e/drain.mjs' },
]

function hasStrace() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function runScenario(script, args, outFile, nodeArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...nodeArgs, join(ROOT, 'bench', script), ...args, '--out', outFile],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    )
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(readFileSync(outFile, 'utf8')))
      else reject(new Error(`${script} exited with ${code}`))
    })
  })
}

/** Throughput must stay ≥ 85% and latency ≤ 1.2x of the baseline (STYLE.md §7). */
function compareBaseline(results, baseline) {
  const flat = (rs) => {
    const m = new Map()
    for (const r of rs) {
      const put = (k, v, kind) => v !== undefined && m.set(`${r.scenario}.${k}`, { v, kind })
      put('recordsPerSec', r.recordsPerSec ?? r.broker?.recordsPerSec, 'throughput')
      put('deliveredPerSec', r.deliveredPerSec, 'throughput')
      put('p99', r.dueToDeliveredMs?.p99 ?? r.broker?.latencyMs?.p99, 'latency')
    }
    return m
  }
  const now = flat(results)
  const before = flat(baseline.results)
  const failures = []
  for (const [k, { v, kind }] of now) {
    const b = before.get(k)
    if (!b) continue
    if (kind === 'throughput' && v < 0.85 * b.v) failures.push(`${k}: ${v} < 85% of ${b.v}`)
    if (kind === 'latency' && v > 1.2 * b.v) failures.push(`${k}: ${v} > 1.2x ${b.v}`)
  }
  return failures
}

async function main() {
  const args = parseArgs()
  const mode = args.full ? 'full' : 'quick'
  const plan = MODES[mode]
  const only = args.only ? String(args.only).split(',') : undefined
  if (!existsSync(BROKER_MAIN)) throw new Error(`${BROKER_MAIN} is missing: run \`npm run build\` first`)
  const trace = !args.noTrace && hasStrace()
  const scratch = await tempDir('run')
  const started = new Date()
  const commit = commitInfo()
  const machine = machineInfo()
  process.stderr.write(
    `strata bench (${mode}) — commit ${commit.short}${commit.dirtySrcFiles ? ` (+${commit.dirtySrcFiles} uncommitted src files)` : ''}, ` +
      `${machine.cores} × ${machine.cpu}, load ${machine.loadavg.join(' ')}, dist ${DIST}\n`,
  )
  if (machine.loadavg[0] > 1)
    process.stderr.write(`warning: load average ${machine.loadavg[0]} > 1: figures will be noisy\n`)
  const extra = (key) => {
    const out = []
    if (args.cpuProf) out.push('--cpu-prof', String(args.cpuProf))
    if (trace && key !== 'drain') out.push('--trace-fsync')
    return out
  }
  const nodeArgs = (key) =>
    args.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${String(args.cpuProf)}/bench-${key}`] : []
  const results = []
  const failed = []
  for (const s of SCENARIOS) {
    if (only && !only.includes(s.key)) continue
    const repeat = s.key === 'drain' ? plan.drainRepeat : 1
    for (let i = 0; i < repeat; i++) {
      const t = performance.now()
      try {
        const r = await runScenario(
          s.script,
          [...plan[s.key], ...extra(s.key)],
          join(scratch, `${s.key}-${i}.json`),
          nodeArgs(s.key),
        )
        results.push(...r)
        process.stderr.write(`  ${s.key} done in ${((performance.now() - t) / 1000).toFixed(1)} s\n`)
      } catch (err) {
        failed.push({ scenario: s.key, error: err.message })
        process.stderr.write(`  ${s.key} FAILED: ${err.message}\n`)
      }
    }
  }
  rmSync(scratch, { recursive: true, force: true })
  const targets = evaluateTargets(results)
  const report = {
    mode,
    command: commandLine(),
    started: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    commit,
    dist: DIST,
    brokerArgs: ['--log-level', 'warn', ...BROKER_EXTRA_ARGS].join(' '),
    machine: { ...machine, loadavgEnd: machineInfo().loadavg },
    fsyncCounting: trace
      ? 'GET /metrics when served, else strace --seccomp-bpf of the broker'
      : 'GET /metrics when served',
    results,
    failed,
    targets,
  }
  process.stdout.write(
    `\n${renderResults(results)}\n\nTargets (issues 8 and 13)\n${renderTargets(targets)}\n`,
  )
  process.stdout.write(
    `\ncommit ${commit.short} · ${machine.cores} × ${machine.cpu} · node ${machine.node} · load ${machine.loadavg.join('/')} → ${report.machine.loadavgEnd.join('/')} · ${report.seconds} s\n`,
  )
  if (!args.noSave) {
    const dir = join(ROOT, 'bench/results')
    mkdirSync(dir, { recursive: true })
    const stamp = started.toISOString().replace(/[:.]/g, '-').slice(0, 19)
    const file = join(dir, `${mode}-${stamp}-${commit.short || 'nogit'}.json`)
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    process.stdout.write(`results: ${file.replace(`${ROOT}/`, '')}\n`)
  }
  let code = failed.length ? 1 : 0
  if (args.baseline) {
    const failures = compareBaseline(results, JSON.parse(readFileSync(String(args.baseline), 'utf8')))
    process.stdout.write(
      failures.length ? `baseline regressions:\n  ${failures.join('\n  ')}\n` : 'baseline: no regression\n',
    )
    if (failures.length) code = 1
  }
  process.exitCode = code
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`)
  process.exitCode = 1
})
