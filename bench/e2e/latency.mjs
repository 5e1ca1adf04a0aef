/**
 * End-to-end latency at fixed rates: a Producer (client library, acks=all, one record per send())
 * paced at R records/s, and one consumer-group member reading the same topic in the same process.
 * Each 100 B value carries two float64 timestamps (performance.now()): when the record was due by
 * the schedule (lib/pacer.mjs, sub-millisecond), and when send() was actually called. "due → delivered" counts any time the
 * producer fell behind its schedule (no coordinated omission); "send → delivered" does not.
 * The first --warmup seconds of records are left out of the histograms (default 5: a fresh broker
 * and client on 2 cores stall every 50–150 ms for their first ~5 s at 1,000/s while V8 compiles and
 * tiers up their hot code, which a 1–2 s warm-up left in the p99).
 *
 * Where the time goes (`breakdownMs`, same clock, same process): due → send (the pacing loop's
 * timer), send → confirm (the producer's promise resolves: the request's round trip and any wait
 * behind the request before it), confirm → delivered (the consumer's fetch answer, decode and
 * iteration after the confirm; 0 when the record was delivered before its confirm was seen).
 *
 *     node bench/e2e/latency.mjs [--rates 1000,5000] [--ack auto,manual] [--duration 10] [--warmup 5]
 *       [--cpu-prof DIR]
 *
 * --ack: auto = the member joins with autoCommit (the broker commits, fsynced, before each answer
 * leaves); manual = commit(record) after each record, not awaited (it rides on the next fetch), as
 * the peers in bench/compare ack.
 */
import { log, scenarioMain } from '../lib/cli.mjs'
import { subscribe, within } from '../lib/consume.mjs'
import { FsyncMeter } from '../lib/fsync.mjs'
import { Pacer } from '../lib/pacer.mjs'
import { startBroker } from '../lib/proc.mjs'
import { processCpuMs } from '../lib/request-cpu.mjs'
import { histogram, recordMs, round, summarize } from '../lib/stats.mjs'
import { loadClient, WireClient } from '../lib/wire.mjs'

const RECORD_BYTES = 100

export async function runRate(lib, broker, wire, hasGroups, rate, { seconds, warmup, ack = 'auto' }) {
  const topic = `bench-e2e-${rate}-${ack}`
  await wire.createTopic(topic, 1)
  const total = Math.round(rate * (seconds + warmup))
  const skip = Math.round(rate * warmup)
  const fromDue = histogram()
  const fromSend = histogram()
  const pacerLag = histogram()
  const sendToConfirm = histogram()
  const confirmToDelivered = histogram()
  /** When each record's send() promise resolved, by record number (0 = not yet). */
  const confirmedAt = new Float64Array(total)
  let index = 0
  const sub = await subscribe(lib, broker.url, {
    group: `bench-e2e-${rate}-${ack}`,
    ack,
    topic,
    hasGroups,
    expect: total,
    maxWaitMs: 1000,
    onRecord(record, now) {
      const v = record.value
      const view = new DataView(v.buffer, v.byteOffset, v.byteLength)
      if (index++ >= skip) {
        recordMs(fromDue, now - view.getFloat64(0, true))
        recordMs(fromSend, now - view.getFloat64(8, true))
        recordMs(pacerLag, view.getFloat64(8, true) - view.getFloat64(0, true))
        const confirmed = confirmedAt[view.getUint32(16, true)] ?? 0
        recordMs(sendToConfirm, (confirmed || now) - view.getFloat64(8, true))
        recordMs(confirmToDelivered, confirmed ? now - confirmed : 0)
      }
    },
  })
  const client = new lib.BrokerClient({ urls: broker.url })
  const producer = new lib.Producer(client, { acks: 'all' })
  const meter = new FsyncMeter(wire, broker)
  let failed
  let sent = 0
  let maxBehind = 0
  let metering = false
  let cpuAtStart
  const interval = 1000 / rate
  const pacer = new Pacer(interval)
  const t0 = pacer.t0
  while (sent < total && !failed) {
    const due = Math.min(total, await pacer.due())
    if (!metering && sent >= skip) {
      metering = true
      await meter.start()
      cpuAtStart = processCpuMs(broker.pid)
    }
    if (due - sent > maxBehind) maxBehind = due - sent
    while (sent < due) {
      const value = Buffer.allocUnsafe(RECORD_BYTES).fill(0x63, 20)
      value.writeDoubleLE(t0 + sent * interval, 0)
      value.writeDoubleLE(performance.now(), 8)
      value.writeUInt32LE(sent, 16)
      const n = sent
      producer.send(topic, { value }).then(
        () => {
          confirmedAt[n] = performance.now()
        },
        (err) => {
          failed = err
        },
      )
      sent++
    }
  }
  await pacer.stop()
  await producer.flush()
  if (failed) throw failed
  await within(sub.done, 30_000, `delivery of ${total} records`)
  const cpu = processCpuMs(broker.pid)
  const groupCommit = await meter.stop(total - skip)
  await producer.close()
  await client.close()
  await sub.stop()
  const achieved = total / ((sub.lastAt - t0) / 1000)
  return {
    scenario: `e2e-latency/${rate}rps${ack === 'auto' ? '' : `/${ack}-ack`}`,
    config: {
      rate,
      recordBytes: RECORD_BYTES,
      durationS: seconds,
      warmupS: warmup,
      acks: 'all',
      partitions: 1,
      consumer: sub.kind,
      ack,
      producer: 'client Producer defaults, one send() per record',
    },
    delivered: sub.seen,
    achievedRate: round(achieved, 0),
    maxScheduleLagRecords: maxBehind,
    dueToDeliveredMs: summarize(fromDue),
    sendToDeliveredMs: summarize(fromSend),
    breakdownMs: {
      dueToSend: summarize(pacerLag),
      sendToConfirm: summarize(sendToConfirm),
      confirmToDelivered: summarize(confirmToDelivered),
    },
    groupCommit,
    // The broker's CPU (all threads) over the measured records: what a record costs it end to end.
    brokerCpuMsPer1kRecords: round(((cpu.process - cpuAtStart.process) * 1000) / (total - skip), 1),
    brokerMainThreadCpuMsPer1kRecords: round(((cpu.main - cpuAtStart.main) * 1000) / (total - skip), 1),
  }
}

export async function run(opts = {}) {
  const lib = await loadClient()
  if (!lib) throw new Error('dist/src/client/index.js is missing: run `npm run build`')
  const rates = String(opts.rates ?? '1000,5000')
    .split(',')
    .map(Number)
  const seconds = opts.duration ?? 10
  const warmup = opts.warmup ?? 5
  const acks = String(opts.ack ?? 'auto').split(',')
  const broker = await startBroker({
    nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker-e2e`] : [],
    traceFsync: Boolean(opts.traceFsync),
  })
  const wire = new WireClient(broker.url)
  const out = []
  try {
    const hasGroups = await wire.hasGroups()
    for (const rate of rates) {
      for (const ack of acks) {
        const r = await runRate(lib, broker, wire, hasGroups, rate, { seconds, warmup, ack })
        out.push(r)
        log(
          `e2e ${rate}/s ${ack} ack: p50 ${r.dueToDeliveredMs.p50} ms, p99 ${r.dueToDeliveredMs.p99} ms, p99.9 ${r.dueToDeliveredMs.p999} ms, max ${r.dueToDeliveredMs.max} ms; broker CPU ${r.brokerCpuMsPer1kRecords} ms per 1,000 records (main thread ${r.brokerMainThreadCpuMsPer1kRecords}); broker GC ${r.groupCommit.brokerGcPausesPerSec ?? r.groupCommit.metrics?.brokerGcPausesPerSec} pauses/s, ${r.groupCommit.brokerGcMsPerSec ?? r.groupCommit.metrics?.brokerGcMsPerSec} ms/s`,
        )
        const b = r.breakdownMs
        log(
          `  p50/p99: due→send ${b.dueToSend.p50}/${b.dueToSend.p99}, send→confirm ${b.sendToConfirm.p50}/${b.sendToConfirm.p99}, confirm→delivered ${b.confirmToDelivered.p50}/${b.confirmToDelivered.p99}, send→delivered ${r.sendToDeliveredMs.p50}/${r.sendToDeliveredMs.p99}`,
        )
      }
    }
  } finally {
    await wire.close()
    await broker.stop()
  }
  return out
}

await scenarioMain(import.meta.url, run)
