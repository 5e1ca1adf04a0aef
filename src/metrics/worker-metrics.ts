/**
 * Storage counters from every partition owner (worker threads, or the main thread), merged into
 * one set for the one `/metrics` answer.
 *
 * Each owner keeps its own `HostStats` (plain counters and a cumulative fsync histogram) in its
 * own thread; they are fetched on scrape (`router.stats()`, one round trip per worker) and summed
 * here. A worker that crashed and restarted starts from zero: to keep the merged counters
 * monotonic, as Prometheus counters must be, the last counters seen from the dead incarnation
 * are carried over. Increments between that last scrape and the crash are lost; that is the cost
 * of not sharing memory between threads.
 */
import { emptyHostStats, type HostStats } from '../workers/worker-messages.js'

/** The HostStats fields that are monotonic counters and merge by sum. */
const COUNTER_FIELDS = [
  'fsyncs',
  'fsyncSecondsTotal',
  'recordsFlushed',
  'appendBatches',
  'appendRecords',
  'appendBytes',
  'fetchRecords',
  'fetchBytes',
  'segmentsDeleted',
] as const satisfies ReadonlyArray<keyof HostStats>

/** a + b, field by field; histogram buckets must share their bounds (or one side has none). */
export function addHostStats(a: HostStats, b: HostStats): HostStats {
  const out: HostStats = { ...a, partitions: a.partitions + b.partitions }
  for (const f of COUNTER_FIELDS) out[f] = a[f] + b[f]
  if (a.fsyncBuckets.length === 0) {
    out.fsyncBuckets = [...b.fsyncBuckets]
    out.fsyncCounts = [...b.fsyncCounts]
  } else if (b.fsyncBuckets.length > 0) {
    if (
      a.fsyncBuckets.length !== b.fsyncBuckets.length ||
      a.fsyncBuckets.some((le, i) => le !== b.fsyncBuckets[i])
    ) {
      throw new RangeError('cannot merge fsync histograms with different buckets')
    }
    out.fsyncBuckets = [...a.fsyncBuckets]
    out.fsyncCounts = a.fsyncCounts.map((c, i) => c + (b.fsyncCounts[i] ?? 0))
  } else {
    out.fsyncBuckets = [...a.fsyncBuckets]
    out.fsyncCounts = [...a.fsyncCounts]
  }
  return out
}

/** Merges per-owner stats across scrapes, carrying counters over an owner's restart. */
export class HostStatsAccumulator {
  /** Per owner index: the counters of its earlier (dead) incarnations. */
  readonly #carried: HostStats[] = []
  readonly #last: HostStats[] = []

  /** `perOwner[i]` is owner i's current counters; returns the merged, monotonic total. */
  update(perOwner: readonly HostStats[]): HostStats {
    let total = emptyHostStats()
    perOwner.forEach((stats, i) => {
      const last = this.#last[i]
      if (last !== undefined && COUNTER_FIELDS.some((f) => stats[f] < last[f])) {
        // The owner restarted: its counters began again at zero.
        this.#carried[i] = addHostStats(this.#carried[i] ?? emptyHostStats(), { ...last, partitions: 0 })
      }
      this.#last[i] = stats
      total = addHostStats(total, addHostStats(this.#carried[i] ?? emptyHostStats(), stats))
    })
    return total
  }
}
