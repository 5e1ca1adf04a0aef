import { describe, expect, it } from 'vitest'
import type { BrokerTotals, TopicTotals } from '../../../src/metrics/broker-metrics.js'
import { StatsRing } from '../../../src/metrics/stats-ring.js'

const topic = (
  produceRecords: number,
  produceBytes: number,
  fetchRecords = 0,
  fetchBytes = 0,
): TopicTotals => ({
  produceRecords,
  produceBytes,
  fetchRecords,
  fetchBytes,
})

function totals(
  over: Partial<BrokerTotals> & { fsyncCount?: number; fsyncSeconds?: number; fsyncCumulative?: number[] },
) {
  return {
    topics: over.topics ?? new Map(),
    fsync: {
      count: over.fsyncCount ?? 0,
      seconds: over.fsyncSeconds ?? 0,
      bounds: [0.001, 0.01, 0.1],
      cumulative: over.fsyncCumulative ?? [0, 0, 0],
    },
    groupLag: over.groupLag ?? new Map(),
    alarms: over.alarms ?? { memory: false, disk: false },
  } satisfies BrokerTotals
}

/** A ring over a queue of prepared readings. */
function ringOf(readings: BrokerTotals[], capacity?: number) {
  let i = 0
  return new StatsRing(
    { totals: async () => readings[Math.min(i++, readings.length - 1)] as BrokerTotals },
    { capacity },
  )
}

describe('StatsRing', () => {
  it('turns cumulative totals into per-second rates per topic and for the broker', async () => {
    const ring = ringOf([
      totals({
        topics: new Map([['a', topic(100, 1000)]]),
        fsyncCount: 10,
        fsyncSeconds: 0.5,
        fsyncCumulative: [5, 10, 10],
      }),
      totals({
        topics: new Map([
          ['a', topic(150, 1500, 20, 400)],
          ['b', topic(10, 80)],
        ]),
        fsyncCount: 20,
        fsyncSeconds: 0.75,
        fsyncCumulative: [5, 19, 20],
        groupLag: new Map([['billing', 7]]),
        alarms: { memory: false, disk: true },
      }),
    ])
    await ring.sample(1_000_000)
    expect(ring.since(0)).toEqual([])
    await ring.sample(1_005_000)
    expect(ring.since(0)).toEqual([
      {
        t: 1_005_000,
        seconds: 5,
        produceRecords: 12,
        produceBytes: 116,
        fetchRecords: 4,
        fetchBytes: 80,
        topics: { a: topic(10, 100, 4, 80), b: topic(2, 16) },
        fsyncsPerSecond: 2,
        fsyncMeanMs: 25,
        // 10 fsyncs in the interval: 9 at most 10 ms, the 10th (the p99) up to 100 ms.
        fsyncP99Ms: 100,
        groupLag: { billing: 7 },
        alarms: { memory: false, disk: true },
      },
    ])
  })

  it('counts from zero when a counter went backwards, reports no fsync latency without fsyncs, and keeps the last `capacity` samples', async () => {
    const ring = ringOf(
      [
        totals({ topics: new Map([['a', topic(500, 5000)]]) }),
        totals({ topics: new Map([['a', topic(20, 200)]]) }),
        totals({ topics: new Map([['a', topic(30, 300)]]) }),
        totals({ topics: new Map([['a', topic(40, 400)]]) }),
      ],
      2,
    )
    for (const t of [0, 10_000, 20_000, 30_000]) await ring.sample(t)
    const samples = ring.since(0)
    expect(samples.map((s) => [s.t, s.produceRecords, s.fsyncMeanMs, s.fsyncP99Ms])).toEqual([
      [20_000, 1, null, null],
      [30_000, 1, null, null],
    ])
    expect(ring.since(25_000).map((s) => s.t)).toEqual([30_000])
  })
})
