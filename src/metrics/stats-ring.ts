/**
 * A small in-memory history of the broker's rates for the console's charts, so they work without
 * Prometheus: one sample every `intervalMs` (5 s), the last `capacity` (720: one hour) kept.
 *
 * Each sample holds rates over the interval before it, from the differences of the cumulative
 * totals (BrokerMetrics.totals()): records/s and bytes/s produced and fetched, per topic and for
 * the broker; fsyncs/s with their mean and p99 duration; lag per group (a level, not a rate); the
 * alarms. A counter that went backwards (a topic deleted and created again) counts from zero.
 */
import type { BrokerMetrics, BrokerTotals, TopicTotals } from './broker-metrics.js'

export interface RateSample {
  /** When the sample was taken, ms since the epoch. */
  t: number
  /** The interval the rates are over: seconds since the previous reading. */
  seconds: number
  produceRecords: number
  produceBytes: number
  fetchRecords: number
  fetchBytes: number
  topics: Record<string, TopicTotals>
  fsyncsPerSecond: number
  /** Mean fsync duration over the interval in ms; null when there was no fsync. */
  fsyncMeanMs: number | null
  /** Upper bound of the bucket holding the interval's 99th percentile fsync, ms; null when none. */
  fsyncP99Ms: number | null
  groupLag: Record<string, number>
  alarms: { memory: boolean; disk: boolean }
}

const TOPIC_FIELDS = ['produceRecords', 'produceBytes', 'fetchRecords', 'fetchBytes'] as const

const delta = (now: number, before: number | undefined) =>
  before === undefined || now < before ? now : now - before

/** The upper bound (seconds) of the bucket where the q-quantile of the interval's observations falls. */
function quantileBound(
  bounds: number[],
  now: number[],
  before: number[] | undefined,
  total: number,
  q: number,
): number | null {
  if (total <= 0) return null
  const want = total * q
  for (let i = 0; i < bounds.length; i++) {
    if (delta(now[i] ?? 0, before?.[i]) >= want) return bounds[i] ?? null
  }
  // Above the last bound: report the last bound rather than infinity.
  return bounds.at(-1) ?? null
}

export class StatsRing {
  readonly intervalMs: number
  readonly capacity: number
  readonly #metrics: Pick<BrokerMetrics, 'totals'>
  readonly #samples: RateSample[] = []
  #last: { t: number; totals: BrokerTotals } | undefined
  #timer: NodeJS.Timeout | undefined
  #sampling = false

  constructor(metrics: Pick<BrokerMetrics, 'totals'>, opts: { intervalMs?: number; capacity?: number } = {}) {
    this.#metrics = metrics
    this.intervalMs = opts.intervalMs ?? 5000
    this.capacity = opts.capacity ?? 720
  }

  /** Takes the baseline now and a sample every interval; the timer never keeps the process up. */
  start(): void {
    if (this.#timer) return
    void this.sample()
    this.#timer = setInterval(() => void this.sample(), this.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Samples taken at or after `sinceMs`, oldest first. */
  since(sinceMs: number): RateSample[] {
    return this.#samples.filter((s) => s.t >= sinceMs)
  }

  /** Reads the totals and appends the rates since the previous reading (the first is the baseline). */
  async sample(now = Date.now()): Promise<void> {
    // A slow stats round trip must not stack readings up behind it.
    if (this.#sampling) return
    this.#sampling = true
    try {
      const totals = await this.#metrics.totals()
      const last = this.#last
      this.#last = { t: now, totals }
      if (!last || now <= last.t) return
      this.#push(rates(last, { t: now, totals }))
    } catch {
      // A failed reading (workers restarting) leaves a gap in the charts; the next one goes on.
    } finally {
      this.#sampling = false
    }
  }

  #push(sample: RateSample): void {
    this.#samples.push(sample)
    if (this.#samples.length > this.capacity) this.#samples.splice(0, this.#samples.length - this.capacity)
  }
}

function rates(
  before: { t: number; totals: BrokerTotals },
  now: { t: number; totals: BrokerTotals },
): RateSample {
  const seconds = (now.t - before.t) / 1000
  const topics: Record<string, TopicTotals> = {}
  const broker: TopicTotals = { produceRecords: 0, produceBytes: 0, fetchRecords: 0, fetchBytes: 0 }
  for (const [topic, t] of now.totals.topics) {
    const prev = before.totals.topics.get(topic)
    const r = { produceRecords: 0, produceBytes: 0, fetchRecords: 0, fetchBytes: 0 }
    for (const f of TOPIC_FIELDS) {
      r[f] = delta(t[f], prev?.[f]) / seconds
      broker[f] += r[f]
    }
    topics[topic] = r
  }
  const f = now.totals.fsync
  const p = before.totals.fsync
  const fsyncs = delta(f.count, p.count)
  const fsyncSeconds = f.count < p.count ? f.seconds : f.seconds - p.seconds
  const p99 = quantileBound(
    f.bounds,
    f.cumulative,
    f.count < p.count ? undefined : p.cumulative,
    fsyncs,
    0.99,
  )
  return {
    t: now.t,
    seconds,
    ...broker,
    topics,
    fsyncsPerSecond: fsyncs / seconds,
    fsyncMeanMs: fsyncs > 0 ? (fsyncSeconds / fsyncs) * 1000 : null,
    fsyncP99Ms: p99 === null ? null : p99 * 1000,
    groupLag: Object.fromEntries(now.totals.groupLag),
    alarms: now.totals.alarms,
  }
}
