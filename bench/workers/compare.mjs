/**
 * Partition workers vs in-process: produce throughput of one broker process started with
 * `--workers 0`, `1` and `2`, measured in ONE run on this machine and printed as ratios to
 * `--workers 0`. The faster setting is the default of `workers` (src/config/schema.ts).
 *
 * Scenarios, acks=all (every answer waits for its fsync), autocannon against the topic route
 * (records spread over the topic's partitions, a sticky partition per request):
 * - batch:  MessagePack bodies of 100 records of 100 B;
 * - single: one 100 B record per request (MessagePack).
 * Each broker gets a fresh data dir and a warm-up run per scenario. Settings are measured in
 * interleaved rounds (0, 1, 2, 0, 1, 2, …) and the median round is reported, so load from other
 * work on the machine falls on every setting alike; the load average is printed at start and end.
 * Two ratios: of the medians, and "paired", the median of each round's ratio to `--workers 0` in
 * that same round (the steadier of the two on a shared machine).
 * Beside throughput: p50/p99 latency (microsecond hdr histogram of autocannon's responses), the
 * broker process's CPU time per 1,000 records (all threads, from /proc) and records per fsync
 * (the broker's own metrics). Honesty check: the high watermarks of the topic must account for
 * every 2xx answer.
 *
 *     npm run build && node bench/workers/compare.mjs [--duration 10] [--warmup 2] [--rounds 3]
 *       [--partitions 4] [--connections 64] [--batch-connections 16] [--workers 0,1,2] [--cpu-prof DIR]
 *
 * `--partitions 1,2,4,8,16` measures each topic size in turn (the scaling table of issue 13:
 * records/s and CPU per record by partitions and workers).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { log, parseArgs } from '../lib/cli.mjs'
import { commandLine, commitInfo, machineInfo } from '../lib/env.mjs'
import { DIST, startBroker } from '../lib/proc.mjs'
import { table } from '../lib/report.mjs'
import { fmtInt, fmtNum, histogram, recordMs, round, summarize } from '../lib/stats.mjs'
import { packr, parsePrometheus, sumMetric, WireClient } from '../lib/wire.mjs'

const RECORD_BYTES = 100
const TOPIC = 'bench-workers'
const CLK_TCK = 100 // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s.

function scenarios(opts) {
  const value = Buffer.alloc(RECORD_BYTES, 0x61)
  const body = (n) => packr.pack({ records: Array.from({ length: n }, () => ({ value })), acks: 'all' })
  return [
    { name: 'batch', records: 100, body: body(100), connections: opts.batchConnections ?? 16 },
    { name: 'single', records: 1, body: body(1), connections: opts.connections ?? 64 },
  ]
}

/** User + system CPU seconds of a process, all its threads included. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

function cannon(url, scenario, duration) {
  const h = histogram()
  const instance = autocannon({
    url: `${url}/v1/topics/${TOPIC}/records`,
    method: 'POST',
    headers: { 'content-type': 'application/vnd.msgpack', accept: 'application/vnd.msgpack' },
    body: scenario.body,
    connections: scenario.connections,
    pipelining: 1,
    duration,
  })
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status < 300) recordMs(h, ms)
  })
  return new Promise((resolve, reject) => {
    instance.once('done', (result) => resolve({ result, latency: summarize(h) }))
    instance.once('error', reject)
  })
}

async function scrape(wire) {
  return parsePrometheus((await wire.metricsText()) ?? '')
}

/** One broker with `--workers N`: both scenarios, each warmed up then measured. */
async function measureBroker(workers, opts) {
  // One directory per setting and round: Node writes one profile per thread (the HTTP thread and
  // each worker), so a fixed --cpu-prof-name would let the threads overwrite each other.
  opts.profileRun = (opts.profileRun ?? 0) + 1
  const cpuProf = opts.cpuProf
    ? ['--cpu-prof', '--cpu-prof-dir', join(opts.cpuProf, `workers-${workers}-run-${opts.profileRun}`)]
    : []
  const broker = await startBroker({ args: ['--workers', String(workers)], nodeArgs: cpuProf })
  const wire = new WireClient(broker.url)
  const out = {}
  try {
    await wire.createTopic(TOPIC, opts.partitions ?? 4)
    let acknowledged = 0
    for (const s of scenarios(opts)) {
      if (opts.warmup > 0)
        acknowledged += (await cannon(broker.url, s, opts.warmup)).result['2xx'] * s.records
      const before = await scrape(wire)
      const cpuBefore = cpuSeconds(broker.pid)
      const { result, latency } = await cannon(broker.url, s, opts.duration)
      const cpu = cpuSeconds(broker.pid) - cpuBefore
      const after = await scrape(wire)
      const delta = (re) => (sumMetric(after, re) ?? 0) - (sumMetric(before, re) ?? 0)
      const ok = result['2xx']
      acknowledged += ok * s.records
      out[s.name] = {
        reqPerSec: ok / result.duration,
        recordsPerSec: (ok * s.records) / result.duration,
        errors: result.errors + result.timeouts + result.non2xx,
        latencyMs: latency,
        cpuMsPer1kRecords: ok > 0 ? (cpu * 1000 * 1000) / (ok * s.records) : undefined,
        recordsPerFsync: delta(/^strata_fsync_records_total$/) / Math.max(1, delta(/^strata_fsyncs_total$/)),
      }
      log(
        `workers=${workers} ${s.name}: ${fmtInt(out[s.name].recordsPerSec)} records/s, p99 ${latency.p99} ms, errors ${out[s.name].errors}`,
      )
    }
    // Every acknowledged record is below a high watermark (autocannon may have had more in flight).
    const written = sumMetric(
      (await scrape(wire)).filter((m) => m.labels.topic === TOPIC),
      /^strata_partition_high_watermark$/,
    )
    if (written < acknowledged)
      throw new Error(`only ${written} records written for ${acknowledged} confirmed`)
    return out
  } finally {
    await wire.close()
    await broker.stop()
  }
}

function median(values) {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b)
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : undefined
}

async function main() {
  const args = parseArgs()
  const opts = {
    duration: args.duration ?? 10,
    warmup: args.warmup ?? 2,
    rounds: args.rounds ?? 3,
    connections: args.connections,
    batchConnections: args.batchConnections,
    cpuProf: args.cpuProf,
  }
  const settings = String(args.workers ?? '0,1,2')
    .split(',')
    .map(Number)
  const machine = machineInfo()
  log(
    `load average at start: ${machine.loadavg.join(' ')}${machine.loadavg[0] > 1 ? '  (busy machine: figures are noisy)' : ''}`,
  )
  const partitionCounts = String(args.partitions ?? 4)
    .split(',')
    .map(Number)
  const rows = []
  const summaries = {}
  for (const partitions of partitionCounts) {
    opts.partitions = partitions
    const { summary, rows: these } = await measureSettings(settings, opts)
    summaries[partitions] = summary
    for (const row of these) rows.push([partitions, ...row])
  }
  const loadEnd = machineInfo().loadavg
  const commit = commitInfo()
  // A clean build of one commit (bench/clean-build.mjs) names that commit; else the work tree's HEAD.
  const built = existsSync(join(DIST, '../COMMIT'))
    ? readFileSync(join(DIST, '../COMMIT'), 'utf8').trim().slice(0, 10)
    : undefined
  const what = built
    ? `clean build of ${built}`
    : `work tree at ${commit.short}${commit.dirtySrcFiles ? ` (+${commit.dirtySrcFiles} uncommitted src files)` : ''}`
  const lines = [
    `${what}, ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, tmp on ${machine.tmpDisk?.fs ?? '?'}`,
    `load average: start ${machine.loadavg.join(' ')}, end ${loadEnd.join(' ')}`,
    `${opts.rounds} interleaved rounds of ${opts.duration} s (warm-up ${opts.warmup} s) per topic size, acks=all, median round shown`,
    '',
    table(
      [
        'partitions',
        'scenario',
        'workers',
        'req/s',
        'records/s',
        `vs first setting`,
        'paired',
        'p50 ms',
        'p99 ms',
        'CPU ms/1k rec',
        'rec/fsync',
        'errors',
        'records/s by round',
      ],
      rows,
    ),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  if (args.json)
    process.stdout.write(`${JSON.stringify({ command: commandLine(), opts, summaries }, null, 2)}\n`)
}

/** Interleaved rounds of every setting on one topic size; the median round of each. */
async function measureSettings(settings, opts) {
  const runs = new Map(settings.map((w) => [w, []]))
  for (let round = 1; round <= opts.rounds; round++) {
    for (const w of settings) {
      log(`${opts.partitions} partitions, round ${round}/${opts.rounds}, --workers ${w}`)
      runs.get(w).push(await measureBroker(w, opts))
    }
  }
  const names = scenarios(opts).map((s) => s.name)
  const base = settings.includes(0) ? 0 : settings[0]
  const summary = {}
  for (const w of settings) {
    summary[w] = {}
    for (const name of names) {
      const rs = runs.get(w).map((r) => r[name])
      summary[w][name] = {
        recordsPerSec: median(rs.map((r) => r.recordsPerSec)),
        reqPerSec: median(rs.map((r) => r.reqPerSec)),
        p50: median(rs.map((r) => r.latencyMs.p50)),
        p99: median(rs.map((r) => r.latencyMs.p99)),
        cpuMsPer1kRecords: median(rs.map((r) => r.cpuMsPer1kRecords)),
        recordsPerFsync: median(rs.map((r) => r.recordsPerFsync)),
        errors: rs.reduce((n, r) => n + r.errors, 0),
        rounds: rs.map((r) => round(r.recordsPerSec, 0)),
        // Each round's ratio to the base setting measured minutes apart at most: load from other
        // work drifts slowly, so pairing within a round cancels most of it.
        pairedRatio: median(rs.map((r, i) => r.recordsPerSec / runs.get(base)[i][name].recordsPerSec)),
      }
    }
  }
  const rows = []
  for (const name of names) {
    for (const w of settings) {
      const s = summary[w][name]
      rows.push([
        name,
        w,
        fmtInt(s.reqPerSec),
        fmtInt(s.recordsPerSec),
        `${fmtNum(s.recordsPerSec / summary[base][name].recordsPerSec, 2)}×`,
        `${fmtNum(s.pairedRatio, 2)}×`,
        fmtNum(s.p50, 2),
        fmtNum(s.p99, 2),
        fmtNum(s.cpuMsPer1kRecords, 1),
        fmtNum(s.recordsPerFsync, 1),
        s.errors,
        s.rounds.map((r) => fmtInt(r)).join(' / '),
      ])
    }
  }
  return { summary, rows }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`)
  process.exit(1)
})
