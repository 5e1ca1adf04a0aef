#!/usr/bin/env node
/**
 * `npm run bench:compare` (not part of CI): the same produce / latency / fanout / drain workloads
 * against Strata, RabbitMQ (amqplib, quorum queues + publisher confirms) and NATS JetStream (nats,
 * file stream + PubAck), each on loopback with its data under a temp dir, one system at a time,
 * in the same run; one table with Strata/peer ratios. rabbitmq-server and nats-server are
 * installed with apt-get when missing.
 *
 *   --only strata,rabbitmq,nats   --duration 8  --warmup 2 (latency: at least 5)  --windows 1000,10000  --window 10000
 *   --fanout-records 100000  --drain-records 200000  --rates 1000,5000  --no-save
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { log, parseArgs } from '../lib/cli.mjs'
import { commandLine, commitInfo, machineInfo } from '../lib/env.mjs'
import { Pacer } from '../lib/pacer.mjs'
import { DIST, ROOT, startBroker } from '../lib/proc.mjs'
import { table } from '../lib/report.mjs'
import { fmtInt, fmtNum, histogram, recordMs, round, summarize } from '../lib/stats.mjs'
import { loadClient, WireClient } from '../lib/wire.mjs'
import { DURABILITY, natsAdapter, payload, rabbitAdapter, strataAdapter } from './adapters.mjs'
import { ensureInstalled, startNats, startRabbit } from './servers.mjs'

const RECORD_BYTES = 100

function waitFor(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const tick = () => {
      if (pred()) return resolve()
      if (Date.now() - t0 > ms) return reject(new Error(`${what}: not done within ${ms} ms`))
      setTimeout(tick, 2)
    }
    tick()
  })
}

/** Sends for `seconds` (or `count` messages) with at most `window` unconfirmed. */
async function pump(pub, buf, { seconds, count, window }) {
  let outstanding = 0
  let confirmed = 0
  let failed
  let wake
  const t0 = performance.now()
  const deadline = seconds === undefined ? Number.POSITIVE_INFINITY : t0 + seconds * 1000
  let sent = 0
  while (failed === undefined && (count === undefined || sent < count)) {
    if ((sent & 255) === 0 && performance.now() >= deadline) break
    if (outstanding >= window) {
      await new Promise((r) => {
        wake = r
      })
      continue
    }
    outstanding++
    sent++
    pub.send(buf).then(
      () => {
        outstanding--
        confirmed++
        if (wake && outstanding <= window / 2) {
          const w = wake
          wake = undefined
          w()
        }
      },
      (err) => {
        failed = err
        outstanding--
        wake?.()
      },
    )
  }
  await waitFor(() => outstanding === 0 || failed, 120_000, 'confirms')
  await pub.flush()
  if (failed) throw failed
  return { confirmed, seconds: (performance.now() - t0) / 1000 }
}

/** The best of the windows (unconfirmed sends allowed): each system at the window that suits it. */
async function produceWorkload(ad, size, o) {
  let best
  for (const window of o.windows) {
    const ch = await ad.open(`cmp-produce-${size}-${window}`)
    const pub = ch.publisher()
    const buf = payload(size, 0x61)
    if (o.warmup) await pump(pub, buf, { seconds: o.warmup, window })
    const r = await pump(pub, buf, { seconds: o.duration, window })
    await pub.close()
    const rate = r.confirmed / r.seconds
    const figure = { recordsPerSec: round(rate, 0), MBps: round((rate * size) / 1e6, 2), window }
    log(`  ${ad.name} produce ${size} B, window ${window}: ${figure.recordsPerSec} msg/s`)
    if (!best || figure.recordsPerSec > best.recordsPerSec) best = figure
  }
  return best
}

const LATENCY_WARMUP_S = 5

async function latencyWorkload(ad, rate, o) {
  const ch = await ad.open(`cmp-latency-${rate}`)
  // As bench/e2e/latency.mjs: the first seconds of a fresh process are JIT warm-up, not latency.
  const warmup = Math.max(o.warmup, LATENCY_WARMUP_S)
  const total = Math.round(rate * (o.duration + warmup))
  const skip = Math.round(rate * warmup)
  const h = histogram()
  let received = 0
  const sub = await ch.subscribe(0, (data, now) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
    if (received++ >= skip) recordMs(h, now - view.getFloat64(0, true))
  })
  const pub = ch.publisher()
  let failed
  let sent = 0
  const interval = 1000 / rate
  const pacer = new Pacer(interval)
  const t0 = pacer.t0
  while (sent < total && !failed) {
    const due = Math.min(total, await pacer.due())
    while (sent < due) {
      const buf = Buffer.allocUnsafe(RECORD_BYTES).fill(0x63, 8)
      buf.writeDoubleLE(t0 + sent * interval, 0)
      pub.send(buf).catch((err) => {
        failed = err
      })
      sent++
    }
  }
  await pacer.stop()
  if (failed) throw failed
  await waitFor(() => received >= total || failed, 60_000, 'latency delivery')
  await pub.close()
  await sub.close()
  return summarize(h)
}

async function fanoutWorkload(ad, groups, o) {
  const ch = await ad.open('cmp-fanout', groups)
  const counts = new Array(groups).fill(0)
  const subs = []
  for (let g = 0; g < groups; g++) subs.push(await ch.subscribe(g, () => counts[g]++))
  const pub = ch.publisher()
  const t0 = performance.now()
  await pump(pub, payload(RECORD_BYTES, 0x64), { count: o.fanoutRecords, window: o.window })
  await waitFor(() => counts.every((c) => c >= o.fanoutRecords), 300_000, 'fanout delivery')
  const seconds = (performance.now() - t0) / 1000
  await pub.close()
  for (const s of subs) await s.close()
  return { deliveredPerSec: round((groups * o.fanoutRecords) / seconds, 0) }
}

async function drainWorkload(ad, o) {
  const ch = await ad.open('cmp-drain')
  const pub = ch.publisher()
  await pump(pub, payload(RECORD_BYTES, 0x65), { count: o.drainRecords, window: o.window })
  await pub.close()
  let received = 0
  const t0 = performance.now()
  const sub = await ch.subscribe(0, () => received++)
  await waitFor(() => received >= o.drainRecords, 300_000, 'drain')
  const seconds = (performance.now() - t0) / 1000
  await sub.close()
  return { recordsPerSec: round(o.drainRecords / seconds, 0) }
}

async function runSystem(name, o) {
  let server
  let adapter
  let wire
  const info = { name, durability: DURABILITY[name] }
  try {
    if (name === 'strata') {
      const lib = await loadClient()
      if (!lib) throw new Error('dist/src/client/index.js is missing: run `npm run build`')
      server = await startBroker()
      wire = new WireClient(server.url)
      const hasGroups = await wire.hasGroups()
      info.version = `strata ${commitInfo().short}`
      info.consumer = hasGroups ? 'group member' : 'partition reader (no groups in this build)'
      adapter = await strataAdapter({ lib, wire, url: server.url, hasGroups })
    } else if (name === 'rabbitmq') {
      server = await startRabbit()
      info.version = server.version
      adapter = await rabbitAdapter({ url: server.url })
    } else {
      server = await startNats()
      info.version = server.version
      // nats.js builds an Error (with a captured stack) for every request, for its timeout message;
      // that alone cut JetStream publishes ~4x here, so stacks are off while NATS runs (said below).
      Error.stackTraceLimit = 0
      info.clientNote = 'Error.stackTraceLimit = 0 while NATS runs (nats.js captures a stack per request)'
      adapter = await natsAdapter({ url: server.url })
    }
    const r = { info }
    for (const size of [100, 1024]) {
      r[`produce${size}`] = await produceWorkload(adapter, size, o)
      log(`${name} produce ${size} B: ${r[`produce${size}`].recordsPerSec} msg/s`)
    }
    // Fanout's producer and the drain's preload use the window that suited this system best.
    o = { ...o, window: r.produce100.window }
    info.window = o.window
    for (const rate of o.rates) {
      r[`latency${rate}`] = await latencyWorkload(adapter, rate, o)
      log(`${name} latency at ${rate}/s: p50 ${r[`latency${rate}`].p50} p99 ${r[`latency${rate}`].p99} ms`)
    }
    r.fanout = await fanoutWorkload(adapter, 4, o)
    log(`${name} fanout: ${r.fanout.deliveredPerSec} delivered/s`)
    r.drain = await drainWorkload(adapter, o)
    log(`${name} drain: ${r.drain.recordsPerSec} msg/s`)
    return r
  } finally {
    Error.stackTraceLimit = 10
    await adapter?.close().catch(() => undefined)
    await wire?.close()
    await server?.stop()
  }
}

function render(systems, o) {
  const s = Object.fromEntries(systems.map((x) => [x.info.name, x]))
  const names = ['strata', 'rabbitmq', 'nats'].filter((n) => s[n])
  const peers = names.filter((n) => n !== 'strata')
  const rows = []
  const row = (label, get, higherBetter, fmt) => {
    const vals = names.map((n) => get(s[n]))
    const strata = s.strata ? get(s.strata) : undefined
    rows.push([
      label,
      ...vals.map((v) => (v === undefined ? '–' : fmt(v))),
      ...peers.map((p) => {
        const v = get(s[p])
        return strata === undefined || !v ? '–' : `${fmtNum(strata / v, 2)}×`
      }),
    ])
    void higherBetter
  }
  const int = (v) => fmtInt(v)
  const msf = (v) => fmtNum(v, v < 10 ? 2 : 1)
  row('produce 100 B, msg/s', (x) => x?.produce100?.recordsPerSec, true, int)
  row(
    'produce 1 KiB, MB/s',
    (x) => x?.produce1024?.MBps,
    true,
    (v) => fmtNum(v, 1),
  )
  for (const rate of o.rates) {
    row(`latency @${rate}/s p50 ms`, (x) => x?.[`latency${rate}`]?.p50, false, msf)
    row(`latency @${rate}/s p99 ms`, (x) => x?.[`latency${rate}`]?.p99, false, msf)
    row(`latency @${rate}/s p99.9 ms`, (x) => x?.[`latency${rate}`]?.p999, false, msf)
  }
  row('fanout 4 groups, delivered/s', (x) => x?.fanout?.deliveredPerSec, true, int)
  row(`drain ${fmtInt(o.drainRecords)}, msg/s`, (x) => x?.drain?.recordsPerSec, true, int)
  const t = table(['workload', ...names, ...peers.map((p) => `strata/${p}`)], rows)
  const notes = names.map(
    (n) =>
      `- ${n} (${s[n].info.version ?? '?'}): ${s[n].info.durability}${s[n].info.consumer ? `; consumer: ${s[n].info.consumer}` : ''}${s[n].info.clientNote ? `; ${s[n].info.clientNote}` : ''}; best window ${fmtInt(s[n].info.window)}`,
  )
  return (
    `${t}\n\nRatios are Strata ÷ peer: above 1 is better for Strata on throughput, below 1 is better on latency.\n` +
    `One publisher sends one ${RECORD_BYTES} B message per call (1 KiB for the MB/s row) with up to N unconfirmed; produce ` +
    `reports each system's best N of ${o.windows.join(' / ')}, and fanout and the drain's preload use that N. ` +
    `Consumers ack every ${100} messages (Strata: manual ack, commit(record) every 100 records, riding on the next fetch).\n${notes.join('\n')}`
  )
}

async function main() {
  const args = parseArgs()
  const o = {
    duration: args.duration ?? 8,
    warmup: args.warmup ?? 2,
    window: args.window ?? 10_000,
    windows: String(args.windows ?? '1000,10000')
      .split(',')
      .map(Number),
    rates: String(args.rates ?? '1000,5000')
      .split(',')
      .map(Number),
    fanoutRecords: args.fanoutRecords ?? 100_000,
    drainRecords: args.drainRecords ?? 200_000,
  }
  const only = String(args.only ?? 'strata,rabbitmq,nats').split(',')
  if (only.includes('rabbitmq') || only.includes('nats')) ensureInstalled()
  const commit = commitInfo()
  const machine = machineInfo()
  log(
    `strata compare — commit ${commit.short}, ${machine.cores} × ${machine.cpu}, load ${machine.loadavg.join(' ')}`,
  )
  const systems = []
  const failed = []
  for (const name of only) {
    try {
      systems.push(await runSystem(name, o))
    } catch (err) {
      failed.push({ system: name, error: err.stack ?? String(err) })
      log(`${name} FAILED: ${err.stack ?? err}`)
    }
  }
  const text = render(systems, o)
  process.stdout.write(
    `\n${text}\n\ncommit ${commit.short} · ${machine.cores} × ${machine.cpu} · load ${machine.loadavg.join('/')} → ${machineInfo().loadavg.join('/')}\n`,
  )
  if (!args.noSave) {
    const dir = join(ROOT, 'bench/results')
    mkdirSync(dir, { recursive: true })
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)
    const file = join(dir, `compare-${stamp}-${commit.short || 'nogit'}.json`)
    writeFileSync(
      file,
      `${JSON.stringify({ command: commandLine(), commit, dist: DIST, machine: { ...machine, loadavgEnd: machineInfo().loadavg }, options: o, systems, failed, table: text }, null, 2)}\n`,
    )
    process.stdout.write(`results: ${file.replace(`${ROOT}/`, '')}\n`)
  }
  process.exitCode = failed.length ? 1 : 0
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`)
  process.exitCode = 1
})
