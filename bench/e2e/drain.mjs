/**
 * Drain: --records stored records (100 B, written beforehand in 1,000-record MessagePack requests)
 * read by one consumer-group member with commits (client Consumer, autoCommit, a final commit),
 * then the group's committed offset is checked. records/s = records / (first fetch → last record).
 *
 * With --raw, a second group then reads the same records over the HTTP API directly (POST
 * /v1/groups/:g/members/:m/records committing the previous batch in the same round trip, bodies
 * decoded with msgpackr): the gap between the two is the client library's share.
 *
 *     node bench/e2e/drain.mjs [--records 200000] [--max-records 5000] [--raw] [--cpu-prof DIR]
 */
import { log, scenarioMain } from '../lib/cli.mjs'
import { subscribe, within } from '../lib/consume.mjs'
import { cpuShare } from '../lib/fsync.mjs'
import { startBroker } from '../lib/proc.mjs'
import { round } from '../lib/stats.mjs'
import { loadClient, preload, WireClient } from '../lib/wire.mjs'

/** One member reads `records` records over the HTTP API, committing each batch on the next fetch. */
async function rawDrain(wire, group, topic, records, { maxRecords, maxBytes }) {
  const t0 = performance.now()
  const joined = await wire.call('POST', `/v1/groups/${group}/members`, {
    topics: [topic],
    sessionTimeoutMs: 30_000,
  })
  const path = `/v1/groups/${group}/members/${joined.memberId}/records`
  let seen = 0
  let commit
  while (seen < records) {
    const res = await wire.call('POST', path, {
      maxRecords,
      maxBytes,
      maxWaitMs: 100,
      ...(commit && { commit }),
    })
    const list = res.records
    if (list.length === 0) continue
    seen += list.length
    const last = list[list.length - 1]
    commit = [{ topic: last.topic, partition: last.partition, offset: last.offset + 1 }]
  }
  const end = performance.now()
  await wire.call('POST', `/v1/groups/${group}/offsets`, {
    memberId: joined.memberId,
    generation: joined.generation,
    offsets: commit,
  })
  await wire.call('DELETE', `/v1/groups/${group}/members/${joined.memberId}`)
  return (end - t0) / 1000
}

const RECORD_BYTES = 100

export async function run(opts = {}) {
  const lib = await loadClient()
  if (!lib) throw new Error('dist/src/client/index.js is missing: run `npm run build`')
  const records = opts.records ?? 200_000
  const maxRecords = opts.maxRecords ?? 5000
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024
  // Write the records with one broker, then read them with a fresh one on the same data (the page
  // cache stays warm), so a --cpu-prof profile holds the drain alone.
  const writer = await startBroker({ keepData: true })
  const writerWire = new WireClient(writer.url)
  const topic = 'bench-drain'
  let preloadS
  let hasGroups
  try {
    hasGroups = await writerWire.hasGroups()
    await writerWire.createTopic(topic, 1)
    const tp = performance.now()
    await preload(writerWire, topic, records, RECORD_BYTES, { batch: 1000 })
    preloadS = (performance.now() - tp) / 1000
  } finally {
    await writerWire.close()
    await writer.stop()
  }
  const broker = await startBroker({
    dataDir: writer.dataDir,
    nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker-drain`] : [],
  })
  const wire = new WireClient(broker.url)
  try {
    const t0 = performance.now()
    const cpu = cpuShare(broker.pid)
    const sub = await subscribe(lib, broker.url, {
      group: 'bench-drain',
      topic,
      hasGroups,
      expect: records,
      maxRecords,
      maxBytes,
      maxWaitMs: 100,
    })
    const end = await within(sub.done, 300_000, 'drain')
    const cpuUsed = cpu()
    await sub.stop()
    let committed
    if (hasGroups) {
      const offsets = await wire.call('GET', '/v1/groups/bench-drain/offsets')
      committed = offsets.offsets.find((o) => o.topic === topic)?.committed
      if (committed !== records) throw new Error(`group committed ${committed}, expected ${records}`)
    }
    const seconds = (end - t0) / 1000
    const result = {
      scenario: 'drain',
      config: { records, recordBytes: RECORD_BYTES, maxRecords, maxBytes, partitions: 1, consumer: sub.kind },
      recordsPerSec: round(records / seconds, 0),
      MBps: round((records * RECORD_BYTES) / seconds / 1e6, 2),
      seconds: round(seconds, 2),
      committed,
      cpu: cpuUsed,
      preloadRecordsPerSec: round(records / preloadS, 0),
    }
    log(`drain ${records}: ${result.recordsPerSec} records/s (committed ${committed ?? 'n/a'})`)
    const out = [result]
    if (opts.raw && hasGroups) {
      const rawCpu = cpuShare(broker.pid)
      const rawSeconds = await rawDrain(wire, 'bench-drain-raw', topic, records, { maxRecords, maxBytes })
      const offsets = await wire.call('GET', '/v1/groups/bench-drain-raw/offsets')
      const rawCommitted = offsets.offsets.find((o) => o.topic === topic)?.committed
      if (rawCommitted !== records)
        throw new Error(`raw group committed ${rawCommitted}, expected ${records}`)
      out.push({
        scenario: 'drain-raw-http',
        config: {
          ...result.config,
          consumer:
            'HTTP API directly (undici + msgpackr), commit on each fetch; same broker, after the client drain',
        },
        recordsPerSec: round(records / rawSeconds, 0),
        MBps: round((records * RECORD_BYTES) / rawSeconds / 1e6, 2),
        seconds: round(rawSeconds, 2),
        committed: rawCommitted,
        cpu: rawCpu(),
      })
      log(`drain over raw HTTP: ${out[1].recordsPerSec} records/s`)
    }
    return out
  } finally {
    await wire.close()
    await broker.stop()
  }
}

await scenarioMain(import.meta.url, run)
