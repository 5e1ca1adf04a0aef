/**
 * Fanout: one producer, 4 consumer groups (one member each) each receiving every record.
 * The producer (client library, acks=all) sends --records records in send()s of --send-batch
 * records; delivered records/s = groups × records / (first send → last group's last record).
 * The producer's own rate is reported beside it: delivery cannot outrun what is written.
 *
 *     node bench/e2e/fanout.mjs [--groups 4] [--records 200000] [--send-batch 100] [--cpu-prof DIR]
 */
import { log, scenarioMain } from '../lib/cli.mjs'
import { subscribe, within } from '../lib/consume.mjs'
import { cpuShare, FsyncMeter } from '../lib/fsync.mjs'
import { startBroker } from '../lib/proc.mjs'
import { round } from '../lib/stats.mjs'
import { loadClient, WireClient } from '../lib/wire.mjs'

const RECORD_BYTES = 100

export async function run(opts = {}) {
  const lib = await loadClient()
  if (!lib) throw new Error('dist/src/client/index.js is missing: run `npm run build`')
  const groups = opts.groups ?? 4
  const records = opts.records ?? 200_000
  const sendBatch = opts.sendBatch ?? 100
  const maxRecords = opts.maxRecords ?? 2000
  const broker = await startBroker({
    nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker-fanout`] : [],
    traceFsync: Boolean(opts.traceFsync),
  })
  const wire = new WireClient(broker.url)
  try {
    const hasGroups = await wire.hasGroups()
    const topic = 'bench-fanout'
    await wire.createTopic(topic, 1)
    const subs = []
    for (let g = 0; g < groups; g++) {
      subs.push(
        await subscribe(lib, broker.url, {
          group: `bench-fanout-${g}`,
          topic,
          hasGroups,
          expect: records,
          maxRecords,
          maxBytes: 4 * 1024 * 1024,
        }),
      )
    }
    const client = new lib.BrokerClient({ urls: broker.url })
    const producer = new lib.Producer(client, { acks: 'all' })
    const value = Buffer.alloc(RECORD_BYTES, 0x64)
    const batch = Array.from({ length: sendBatch }, () => ({ value }))
    const meter = new FsyncMeter(wire, broker)
    await meter.start()
    const cpu = cpuShare(broker.pid)
    const t0 = performance.now()
    const window = Math.max(4, Math.ceil(20_000 / sendBatch))
    const inflight = new Set()
    for (let sent = 0; sent < records; sent += sendBatch) {
      const p = producer.send(topic, sent + sendBatch <= records ? batch : batch.slice(0, records - sent))
      inflight.add(p)
      p.finally(() => inflight.delete(p))
      if (inflight.size >= window) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    const producedAt = performance.now()
    const groupCommit = await meter.stop(records)
    const ends = await within(Promise.all(subs.map((s) => s.done)), 120_000, 'fanout delivery')
    const last = Math.max(...ends)
    const cpuUsed = cpu()
    for (const s of subs) await s.stop()
    await producer.close()
    await client.close()
    const seconds = (last - t0) / 1000
    const result = {
      scenario: `fanout/${groups}-groups`,
      config: {
        groups,
        records,
        recordBytes: RECORD_BYTES,
        sendBatch,
        consumerMaxRecords: maxRecords,
        acks: 'all',
        partitions: 1,
        consumer: subs[0].kind,
      },
      deliveredPerSec: round((groups * records) / seconds, 0),
      producedPerSec: round(records / ((producedAt - t0) / 1000), 0),
      seconds: round(seconds, 2),
      cpu: cpuUsed,
      groupEndsS: ends.map((e) => round((e - t0) / 1000, 2)),
      groupCommit,
    }
    log(
      `fanout ${groups} groups: ${result.deliveredPerSec} delivered/s (producer ${result.producedPerSec} records/s)`,
    )
    return [result]
  } finally {
    await wire.close()
    await broker.stop()
  }
}

await scenarioMain(import.meta.url, run)
