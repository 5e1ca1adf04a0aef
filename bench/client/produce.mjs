/**
 * Client-driven produce: the client library's Producer (dist/src/client) sending one record per
 * send(), acks=all, as fast as the broker confirms. Up to `--window` sends are outstanding at a
 * time; the producer's own batching packs them into requests (up to `--max-in-flight` batches in
 * flight per topic, the Producer's default 5).
 * records/s counts confirmed records from the first send to the last confirm.
 *
 *     node bench/client/produce.mjs [--sizes 100,1024] [--duration 5] [--warmup 1] [--window 20000] [--max-in-flight N] [--cpu-prof DIR]
 */
import { loadavg } from 'node:os'
import { log, scenarioMain } from '../lib/cli.mjs'
import { FsyncMeter } from '../lib/fsync.mjs'
import { startBroker } from '../lib/proc.mjs'
import { histogram, recordMs, round, summarize } from '../lib/stats.mjs'
import { loadClient, WireClient } from '../lib/wire.mjs'

/** Sends one-record send()s for `seconds`, keeping at most `window` unconfirmed; returns counts. */
export async function pump(producer, topic, value, { seconds, window }) {
  const h = histogram()
  let outstanding = 0
  let confirmed = 0
  let failed
  let wake
  const t0 = performance.now()
  const deadline = t0 + seconds * 1000
  let sent = 0
  while (failed === undefined) {
    if ((sent & 255) === 0 && performance.now() >= deadline) break
    if (outstanding >= window) {
      await new Promise((r) => {
        wake = r
      })
      continue
    }
    const at = performance.now()
    outstanding++
    sent++
    producer.send(topic, { value }).then(
      () => {
        recordMs(h, performance.now() - at)
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
  await producer.flush()
  if (failed) throw failed
  const elapsed = (performance.now() - t0) / 1000
  return { sent, confirmed, elapsed, sendLatencyMs: summarize(h) }
}

export async function run(opts = {}) {
  const lib = await loadClient()
  if (!lib) throw new Error('dist/src/client/index.js is missing: run `npm run build`')
  const sizes = String(opts.sizes ?? '100,1024')
    .split(',')
    .map(Number)
  const seconds = opts.duration ?? 5
  const warmup = opts.warmup ?? 1
  const window = opts.window ?? 20_000
  const broker = await startBroker({
    nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker-client-produce`] : [],
    traceFsync: Boolean(opts.traceFsync),
  })
  const wire = new WireClient(broker.url)
  const out = []
  try {
    for (const size of sizes) {
      const topic = `bench-client-${size}`
      await wire.createTopic(topic, 1)
      const client = new lib.BrokerClient({ urls: broker.url })
      const producer = new lib.Producer(client, {
        acks: 'all',
        ...(opts.maxInFlight !== undefined && { maxInFlight: opts.maxInFlight }),
      })
      const value = Buffer.alloc(size, 0x62)
      if (warmup > 0) await pump(producer, topic, value, { seconds: warmup, window })
      const meter = new FsyncMeter(wire, broker)
      await meter.start()
      const r = await pump(producer, topic, value, { seconds, window })
      const groupCommit = await meter.stop(r.confirmed)
      await producer.close()
      await client.close()
      const recordsPerSec = r.confirmed / r.elapsed
      // CPU per record, both sides: a figure the machine's other load disturbs far less than records/s.
      const cpuUsPerRecord = (cores) =>
        cores === undefined ? undefined : round((cores * r.elapsed * 1e6) / r.confirmed, 2)
      const entry = {
        scenario: `client-produce/${size}B`,
        config: {
          recordBytes: size,
          window,
          durationS: seconds,
          warmupS: warmup,
          acks: 'all',
          partitions: 1,
          producer: `defaults (lingerMs 0, maxBatchRecords 10000, maxBatchBytes 1 MiB, maxInFlight ${opts.maxInFlight ?? 5})`,
        },
        recordsPerSec: round(recordsPerSec, 0),
        MBps: round((recordsPerSec * size) / 1e6, 2),
        confirmed: r.confirmed,
        sendLatencyMs: r.sendLatencyMs,
        cpuUsPerRecord: {
          broker: cpuUsPerRecord(groupCommit.cpu?.brokerCores),
          client: cpuUsPerRecord(groupCommit.cpu?.benchCores),
        },
        groupCommit,
      }
      out.push(entry)
      log(
        `client produce ${size} B: ${entry.recordsPerSec} records/s, ${entry.MBps} MB/s, send p99 ${r.sendLatencyMs.p99} ms, CPU µs/record broker ${entry.cpuUsPerRecord.broker} client ${entry.cpuUsPerRecord.client}, load ${loadavg()[0].toFixed(2)}`,
      )
    }
  } finally {
    await wire.close()
    await broker.stop()
  }
  return out
}

await scenarioMain(import.meta.url, run)
