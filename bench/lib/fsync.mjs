/**
 * Group commit figures: fsyncs per second, records per fsync and mean fsync time over a window.
 *
 * Sources: an strace log of the broker's fsync/fdatasync syscalls (startBroker({ traceFsync: true }),
 * records per fsync from the benchmark's own count of what it wrote in the window), and the
 * broker's GET /metrics (strata_fsyncs_total, strata_fsync_records_total,
 * strata_fsync_duration_seconds of src/metrics/broker-metrics.ts). bench/run.js traces whenever
 * strace is installed.
 */
import { readFileSync } from 'node:fs'
import { countFsyncs } from './proc.mjs'
import { round } from './stats.mjs'
import { parsePrometheus, sumMetric } from './wire.mjs'

const NAMES = {
  fsyncs: /^strata_fsyncs_total$/,
  records: /^strata_fsync_records_total$/,
  seconds: /^strata_fsync_duration_seconds_sum$/,
  gcPauses: /^nodejs_gc_duration_seconds_count$/,
  gcSeconds: /^nodejs_gc_duration_seconds_sum$/,
}

/** CPU seconds (user + system, all threads) a process has used, from /proc (Linux). */
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined
  }
}

function selfCpuSeconds() {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/**
 * Over the same window, how busy each side was, in cores (1 = one core all the time): the
 * broker process and this load-generating process. Tells what limits a figure: a side near 1 is
 * CPU-bound on its one JavaScript thread; both well below 1 means waiting (fsync, round trips).
 */
export function cpuShare(brokerPid) {
  const t0 = performance.now()
  const b0 = processCpuSeconds(brokerPid)
  const s0 = selfCpuSeconds()
  return () => {
    const seconds = (performance.now() - t0) / 1000
    const b1 = processCpuSeconds(brokerPid)
    return {
      brokerCores: b0 === undefined || b1 === undefined ? undefined : round((b1 - b0) / seconds, 2),
      benchCores: round((selfCpuSeconds() - s0) / seconds, 2),
    }
  }
}

/** The broker's GC pauses over the window (prom-client's nodejs_gc_duration_seconds): a p99 follows them. */
function gcFigures(m0, m1, seconds) {
  if (m0.gcPauses === undefined || m1.gcPauses === undefined) return {}
  const pauses = m1.gcPauses - m0.gcPauses
  return {
    brokerGcPausesPerSec: round(pauses / seconds, 1),
    brokerGcMsPerSec: round(((m1.gcSeconds - m0.gcSeconds) * 1000) / seconds, 2),
  }
}

export class FsyncMeter {
  constructor(wire, broker) {
    this.wire = wire
    this.broker = broker
  }

  async #read() {
    const text = await this.wire.metricsText().catch(() => undefined)
    if (!text) return undefined
    const samples = parsePrometheus(text)
    const fsyncs = sumMetric(samples, NAMES.fsyncs)
    if (fsyncs === undefined) return undefined
    return {
      fsyncs,
      records: sumMetric(samples, NAMES.records),
      seconds: sumMetric(samples, NAMES.seconds),
      gcPauses: sumMetric(samples, NAMES.gcPauses),
      gcSeconds: sumMetric(samples, NAMES.gcSeconds),
    }
  }

  async start() {
    this.cpu = cpuShare(this.broker.pid)
    this.t0 = performance.now()
    this.wall0 = Date.now() / 1000
    this.m0 = await this.#read()
  }

  /**
   * Ends the window; `records` is what the benchmark wrote during it. When both sources exist the
   * strace count (the fdatasync syscalls themselves) is the figure, and the broker's own counters
   * are kept beside it under `metrics`: they differ when a counter is wrong.
   */
  async stop(records) {
    const cpu = this.cpu()
    return { ...(await this.#stop(records)), cpu }
  }

  async #stop(records) {
    const seconds = (performance.now() - this.t0) / 1000
    const wall1 = Date.now() / 1000
    const m1 = await this.#read()
    let fromMetrics
    if (this.m0 && m1) {
      const fsyncs = m1.fsyncs - this.m0.fsyncs
      const flushed =
        m1.records !== undefined && this.m0.records !== undefined ? m1.records - this.m0.records : records
      const busy =
        m1.seconds !== undefined && this.m0.seconds !== undefined ? m1.seconds - this.m0.seconds : undefined
      fromMetrics = {
        source: 'metrics',
        fsyncs,
        fsyncsPerSec: round(fsyncs / seconds, 0),
        recordsPerFsync: fsyncs > 0 ? round(flushed / fsyncs, 1) : undefined,
        meanFsyncMs: fsyncs > 0 && busy !== undefined ? round((busy * 1000) / fsyncs, 2) : undefined,
        ...gcFigures(this.m0, m1, seconds),
      }
    }
    if (!this.broker.traceFile) return fromMetrics ?? { source: 'none' }
    await new Promise((r) => setTimeout(r, 50)) // let strace write its last lines
    const traced = await countFsyncs(this.broker.traceFile, this.wall0, wall1)
    const fsyncs = traced.count
    return {
      source: 'strace',
      fsyncs,
      fsyncsPerSec: round(fsyncs / seconds, 0),
      recordsPerFsync: fsyncs > 0 ? round(records / fsyncs, 1) : undefined,
      meanFsyncMs: round(traced.meanMs, 2),
      maxFsyncMs: round(traced.maxMs, 2),
      ...(fromMetrics && { metrics: fromMetrics }),
    }
  }
}
