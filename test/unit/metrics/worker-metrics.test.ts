/**
 * Merging worker HostStats: counters and fsync histogram buckets add up across workers, and a
 * worker that restarts (counters back at zero) never makes a merged counter go down.
 */
import { describe, expect, it } from 'vitest'
import { addHostStats, HostStatsAccumulator } from '../../../src/metrics/worker-metrics.js'
import { emptyHostStats, type HostStats } from '../../../src/workers/worker-messages.js'

const BUCKETS = [0.001, 0.01, 0.1]

function stats(fsyncs: number, records: number, counts: number[] = [0, fsyncs, fsyncs]): HostStats {
  return {
    ...emptyHostStats(),
    partitions: 2,
    fsyncs,
    fsyncSecondsTotal: fsyncs * 0.005,
    recordsFlushed: records,
    appendBatches: fsyncs,
    appendRecords: records,
    fsyncBuckets: BUCKETS,
    fsyncCounts: counts,
  }
}

describe('addHostStats', () => {
  it('sums counters and cumulative buckets', () => {
    const sum = addHostStats(stats(3, 30, [1, 2, 3]), stats(5, 50, [0, 4, 5]))
    expect(sum.fsyncs).toBe(8)
    expect(sum.recordsFlushed).toBe(80)
    expect(sum.partitions).toBe(4)
    expect(sum.fsyncBuckets).toEqual(BUCKETS)
    expect(sum.fsyncCounts).toEqual([1, 6, 8])
    expect(sum.fsyncSecondsTotal).toBeCloseTo(0.04)
  })

  it('takes the buckets of whichever side has them, and refuses mismatched bounds', () => {
    expect(addHostStats(emptyHostStats(), stats(1, 1)).fsyncBuckets).toEqual(BUCKETS)
    expect(addHostStats(stats(1, 1), emptyHostStats()).fsyncCounts).toEqual([0, 1, 1])
    const other = { ...stats(1, 1), fsyncBuckets: [1, 2, 3] }
    expect(() => addHostStats(stats(1, 1), other)).toThrow(RangeError)
  })
})

describe('HostStatsAccumulator', () => {
  it('merges workers and stays monotonic across a worker restart', () => {
    const acc = new HostStatsAccumulator()
    expect(acc.update([stats(10, 100), stats(4, 40)]).fsyncs).toBe(14)
    expect(acc.update([stats(12, 120), stats(5, 50)]).recordsFlushed).toBe(170)
    // Worker 0 restarted: it reports from zero again; what it had counted is carried over.
    const afterRestart = acc.update([stats(1, 7), stats(6, 60)])
    expect(afterRestart.fsyncs).toBe(12 + 1 + 6)
    expect(afterRestart.recordsFlushed).toBe(120 + 7 + 60)
    expect(afterRestart.fsyncCounts).toEqual([0, 19, 19])
    // The partitions gauge is not carried: it is a level, not a counter.
    expect(afterRestart.partitions).toBe(4)
    expect(acc.update([stats(3, 9), stats(6, 60)]).fsyncs).toBe(12 + 3 + 6)
  })
})
