/**
 * The parts of end-to-end latency, one at a time, on one broker: sequential single-record produce
 * round trips (one request in flight) at acks 0, 1 and all, a fetch round trip, and how long a
 * parked partition fetch, and a parked consumer-group member's fetch, take to be answered after
 * an acks=all produce is. Latencies from an
 * hdr histogram at microsecond resolution; load average printed.
 *
 *     npm run build && node bench/micro/produce-rtt.mjs [--count 2000] [--workers 1]
 */
import { loadavg } from 'node:os'
import { log, parseArgs } from '../lib/cli.mjs'
import { startBroker } from '../lib/proc.mjs'
import { histogram, recordMs, summarize } from '../lib/stats.mjs'
import { WireClient } from '../lib/wire.mjs'

const opts = parseArgs()
const count = opts.count ?? 2000
const broker = await startBroker({
  args: opts.workers !== undefined ? ['--workers', String(opts.workers)] : [],
})
const wire = new WireClient(broker.url, { connections: 2 })
const value = Buffer.alloc(100, 0x61)
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
try {
  await wire.createTopic('rtt', 1)
  for (const acks of ['0', '1', 'all']) {
    const h = histogram()
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      await wire.produce('rtt', [{ value }], acks === '0' ? 0 : acks === '1' ? 1 : 'all', 0)
      if (i >= count / 10) recordMs(h, performance.now() - t)
    }
    log(`produce acks=${acks}: ${JSON.stringify(summarize(h))}`)
  }
  const fetchH = histogram()
  for (let i = 0; i < count; i++) {
    const t = performance.now()
    await wire.call('GET', '/v1/topics/rtt/partitions/0/records?offset=0&maxRecords=1')
    if (i >= count / 10) recordMs(fetchH, performance.now() - t)
  }
  log(`fetch (data ready): ${JSON.stringify(summarize(fetchH))}`)
  const wake = histogram()
  let next = Number((await wire.describeTopic('rtt')).partitions[0].highWatermark ?? 0)
  for (let i = 0; i < count / 4; i++) {
    const parked = wire.call('GET', `/v1/topics/rtt/partitions/0/records?offset=${next}&maxWaitMs=2000`)
    await new Promise((r) => setTimeout(r, 2))
    await wire.produce('rtt', [{ value }], 'all', 0)
    const t = performance.now()
    await parked
    recordMs(wake, performance.now() - t)
    next++
  }
  log(`parked fetch answered after the produce confirm: ${JSON.stringify(summarize(wake))}`)
  // The same for a consumer-group member's long poll (the path of bench/e2e/latency.mjs).
  const { memberId } = await wire.call('POST', '/v1/groups/rtt-group/members', { topics: ['rtt'] })
  const records = `/v1/groups/rtt-group/members/${memberId}/records`
  while ((await wire.call('GET', `${records}?maxRecords=5000`)).records.length > 0) {}
  const groupWake = histogram()
  for (let i = 0; i < count / 4; i++) {
    const parked = wire.call('GET', `${records}?maxWaitMs=2000`)
    await new Promise((r) => setTimeout(r, 2))
    await wire.produce('rtt', [{ value }], 'all', 0)
    const t = performance.now()
    const got = await parked
    recordMs(groupWake, performance.now() - t)
    if (got.records.length !== 1) throw new Error(`group fetch got ${got.records.length} records`)
  }
  log(`parked group fetch answered after the produce confirm: ${JSON.stringify(summarize(groupWake))}`)
} finally {
  await wire.close()
  await broker.stop()
}
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
