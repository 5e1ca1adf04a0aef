/**
 * Group commit figures: fsyncs per second and records per fsync over a window of load.
 *
 * Source, in order: the broker's GET /metrics (the fsync counter of src/metrics/broker-metrics.ts),
 * else an strace log of the broker's fsync/fdatasync calls (startBroker({ traceFsync: true })).
 * Records come from the benchmark's own count of what it wrote in the window.
 */
import { countFsyncs } from './proc.mjs'
import { round } from './stats.mjs'
import { parsePrometheus, sumMetric } from './wire.mjs'

// A counter of fsyncs (any name with "fsync" that is a plain counter, not a histogram's parts).
const FSYNC_COUNTER = /^strata_.*fsyncs?_total$/

export class FsyncMeter {
  constructor(wire, broker) {
    this.wire = wire
    this.broker = broker
  }

  async #readMetric() {
    const text = await this.wire.metricsText().catch(() => undefined)
    if (!text) return undefined
    return sumMetric(parsePrometheus(text), FSYNC_COUNTER)
  }

  async start() {
    this.t0 = performance.now()
    this.wall0 = Date.now() / 1000
    this.m0 = await this.#readMetric()
  }

  /** Ends the window; `records` is what the benchmark wrote during it. */
  async stop(records) {
    const seconds = (performance.now() - this.t0) / 1000
    const wall1 = Date.now() / 1000
    let fsyncs
    let source
    const m1 = await this.#readMetric()
    if (this.m0 !== undefined && m1 !== undefined) {
      fsyncs = m1 - this.m0
      source = 'metrics'
    } else if (this.broker.traceFile) {
      await new Promise((r) => setTimeout(r, 50)) // let strace flush its last lines
      fsyncs = await countFsyncs(this.broker.traceFile, this.wall0, wall1)
      source = 'strace'
    } else {
      return { source: 'none' }
    }
    return {
      source,
      fsyncs,
      fsyncsPerSec: round(fsyncs / seconds, 0),
      recordsPerFsync: fsyncs > 0 ? round(records / fsyncs, 1) : undefined,
    }
  }
}
