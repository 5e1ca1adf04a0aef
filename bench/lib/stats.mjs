/** Latency histograms (hdr-histogram-js, microsecond resolution) and number formatting. */
import hdr from 'hdr-histogram-js'

export function histogram() {
  // 1 µs .. 60 s, 3 significant digits. The pure-JS build: no WebAssembly start-up to wait for.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  })
}

/** Records a latency given in milliseconds (fractions kept to the microsecond). */
export function recordMs(h, ms) {
  h.recordValue(Math.max(1, Math.round(ms * 1000)))
}

/** p50/p99/p99.9/max/mean in milliseconds. */
export function summarize(h) {
  const at = (p) => round(h.getValueAtPercentile(p) / 1000, 3)
  return {
    count: h.totalCount,
    p50: at(50),
    p99: at(99),
    p999: at(99.9),
    max: round(h.maxValue / 1000, 3),
    mean: round(h.mean / 1000, 3),
  }
}

export function round(x, digits = 1) {
  if (x === undefined || x === null || Number.isNaN(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function fmtInt(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–'
  return Math.round(n).toLocaleString('en-US')
}

export function fmtNum(n, digits = 2) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–'
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}
