/**
 * BrokerMetrics on its own registry: the router wrapper counts exactly the records appended
 * (duplicates excluded) and fetched, per topic; worker stats from several owners render as one
 * merged fsync histogram; the text parses as Prometheus exposition; every exported strata_* name
 * is in MetricNames and documented in src/metrics/README.md, and every MetricNames entry is exported.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { BrokerMetrics, MetricNames } from '../../../src/metrics/broker-metrics.js'
import type {
  HostEvent,
  HostRequest,
  HostResponses,
  HostStats,
} from '../../../src/workers/worker-messages.js'
import { emptyHostStats } from '../../../src/workers/worker-messages.js'
import type { OwnerLoad, PartitionRouter } from '../../../src/workers/worker-router.js'
import { parsePromText, sample } from './prom-text.js'

const BUCKETS = [0.001, 0.01]

class FakeRouter implements PartitionRouter {
  readonly kind = 'fake'
  perWorker: HostStats[] = [
    {
      ...emptyHostStats(),
      fsyncs: 2,
      recordsFlushed: 10,
      fsyncSecondsTotal: 0.004,
      fsyncBuckets: BUCKETS,
      fsyncCounts: [1, 2],
    },
    {
      ...emptyHostStats(),
      fsyncs: 3,
      recordsFlushed: 5,
      fsyncSecondsTotal: 0.05,
      fsyncBuckets: BUCKETS,
      fsyncCounts: [0, 1],
    },
  ]
  nextOffset = 0
  async request<R extends Exclude<HostRequest, { op: 'stats' | 'retention' }>>(
    req: R,
  ): Promise<HostResponses[R['op']]> {
    if (req.op === 'append') {
      const count = req.batch.readInt32BE(57)
      const duplicate = req.batch.readInt32BE(53) === 99
      const baseOffset = this.nextOffset
      if (!duplicate) this.nextOffset += count
      return {
        baseOffset,
        lastOffset: baseOffset + count - 1,
        durability: 'fsynced',
        duplicate,
      } as HostResponses[R['op']]
    }
    if (req.op === 'fetch') {
      return {
        body: Buffer.alloc(0),
        recordCount: 7,
        nextOffset: 7,
        highWatermark: 7,
        logStartOffset: 0,
        bytes: 700,
      } as HostResponses[R['op']]
    }
    throw new Error(`unexpected ${req.op}`)
  }
  async stats() {
    return this.perWorker
  }
  async retention() {
    return 0
  }
  onEvent(_listener: (event: HostEvent) => void) {}
  load(): OwnerLoad[] {
    return [
      { worker: 0, inflight: 3, queued: 1, partitions: 2, restarts: 1, recovering: false },
      { worker: 1, inflight: 0, queued: 0, partitions: 2, restarts: 0, recovering: false },
    ]
  }
  async close() {}
}

/** A batch header with just the fields the fake reads: record count at 57, base sequence at 53. */
function fakeBatch(records: number, sequence = -1): Buffer {
  const b = Buffer.alloc(61 + records * 10)
  b.writeInt32BE(records, 57)
  b.writeInt32BE(sequence, 53)
  return b
}

describe('BrokerMetrics', () => {
  it('counts appended and fetched records per topic exactly, and merges worker stats', async () => {
    const metrics = new BrokerMetrics(new Registry(), { processMetrics: false })
    const fake = new FakeRouter()
    const router = metrics.meter(fake)
    metrics.bind({ broker: undefined as never, router })
    await router.request({ op: 'append', topic: 'a', partition: 0, batch: fakeBatch(3), acks: 'all' })
    await router.request({ op: 'append', topic: 'a', partition: 0, batch: fakeBatch(4), acks: 'all' })
    await router.request({ op: 'append', topic: 'a', partition: 0, batch: fakeBatch(4, 99), acks: 'all' })
    await router.request({ op: 'append', topic: 'b', partition: 1, batch: fakeBatch(1), acks: 1 })
    await router.request({
      op: 'fetch',
      topic: 'b',
      partition: 1,
      offset: 0,
      maxRecords: 10,
      maxBytes: 1000,
      format: 'partition',
    })
    // The partition gauges read a broker; this test has none, so give them an empty one.
    metrics.bind({ broker: { listTopics: () => [], waiters: { size: 0 } } as never, router })

    const text = await metrics.render()
    const parsed = parsePromText(text)
    expect(sample(parsed, MetricNames.produceRecords, { topic: 'a' })).toBe(7)
    expect(sample(parsed, MetricNames.produceRecords, { topic: 'b' })).toBe(1)
    expect(sample(parsed, MetricNames.produceBytes, { topic: 'a' })).toBe(
      fakeBatch(3).length + fakeBatch(4).length,
    )
    expect(sample(parsed, MetricNames.fetchRecords, { topic: 'b' })).toBe(7)
    expect(sample(parsed, MetricNames.fetchBytes, { topic: 'b' })).toBe(700)
    expect(sample(parsed, MetricNames.fsyncs)).toBe(5)
    expect(sample(parsed, MetricNames.fsyncRecords)).toBe(15)
    expect(sample(parsed, MetricNames.recordsPerFsync)).toBe(3)
    expect(parsed.types.get(MetricNames.fsyncDuration)).toBe('histogram')
    expect(sample(parsed, `${MetricNames.fsyncDuration}_bucket`, { le: '0.001' })).toBe(1)
    expect(sample(parsed, `${MetricNames.fsyncDuration}_bucket`, { le: '0.01' })).toBe(3)
    expect(sample(parsed, `${MetricNames.fsyncDuration}_bucket`, { le: '+Inf' })).toBe(5)
    expect(sample(parsed, `${MetricNames.fsyncDuration}_count`)).toBe(5)
    expect(sample(parsed, `${MetricNames.fsyncDuration}_sum`)).toBeCloseTo(0.054)
    expect(sample(parsed, MetricNames.workerQueueDepth, { worker: '0' })).toBe(1)
    expect(sample(parsed, MetricNames.workerInflightRequests, { worker: '0' })).toBe(3)
    expect(sample(parsed, MetricNames.workerRestarts, { worker: '0' })).toBe(1)
  })

  it('reports consumer-group lag from registered sources', async () => {
    const metrics = new BrokerMetrics(new Registry(), { processMetrics: false })
    metrics.bind({
      broker: { listTopics: () => [], waiters: { size: 0 } } as never,
      router: new FakeRouter(),
    })
    metrics.addLagSource(() => [{ group: 'g1', topic: 't', partition: 2, lag: 42 }])
    metrics.addLagSource(async () => [{ group: 'g2', topic: 't', partition: 0, lag: 0 }])
    const parsed = parsePromText(await metrics.render())
    expect(sample(parsed, MetricNames.consumerGroupLag, { group: 'g1', topic: 't', partition: '2' })).toBe(42)
    expect(parsed.samples.has(`${MetricNames.consumerGroupLag}{group="g2",partition="0",topic="t"}`)).toBe(
      true,
    )
  })

  it('exports exactly the names of MetricNames, each documented in the README', async () => {
    const metrics = new BrokerMetrics(new Registry())
    metrics.bind({
      broker: { listTopics: () => [], waiters: { size: 0 } } as never,
      router: new FakeRouter(),
    })
    const parsed = parsePromText(await metrics.render())
    const exported = [...parsed.types.keys()].filter((n) => n.startsWith('strata_'))
    expect(new Set(exported)).toEqual(new Set(Object.values(MetricNames)))
    expect(parsed.types.has('process_resident_memory_bytes')).toBe(true)
    const readme = readFileSync(resolve(import.meta.dirname, '../../../src/metrics/README.md'), 'utf8')
    for (const name of Object.values(MetricNames)) expect(readme).toMatch(new RegExp(`\\| \`${name}\` +\\|`))
  })
})
