/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: it throws
 * on any line that is not a HELP/TYPE comment or a well-formed sample, and on a sample whose metric
 * family has no TYPE. Samples are keyed `name{a="x",b="y"}` with labels sorted.
 */
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?\d+)?$/
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/

export interface PromText {
  types: Map<string, string>
  samples: Map<string, number>
}

/** Values are parsed like Prometheus does (Go's ParseFloat): NaN and Inf in any case, e.g. prom-client's `Nan`. */
function parseValue(raw: string, line: string): number {
  const lower = raw.toLowerCase()
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY
  if (lower === '-inf') return Number.NEGATIVE_INFINITY
  if (lower === 'nan') return Number.NaN
  const n = Number(raw)
  if (raw.trim() === '' || Number.isNaN(n)) throw new Error(`bad sample value in: ${line}`)
  return n
}

function parseLabels(text: string, line: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  let rest = text
  while (rest.length > 0) {
    const m = LABEL.exec(rest)
    if (!m) throw new Error(`bad labels in: ${line}`)
    out.push([m[1] as string, m[2] as string])
    rest = rest.slice(m[0].length)
    if (rest.startsWith(',')) rest = rest.slice(1)
    else if (rest.length > 0) throw new Error(`bad label separator in: ${line}`)
  }
  return out
}

export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
  return parts.length ? `${name}{${parts.join(',')}}` : name
}

export function parsePromText(text: string): PromText {
  const types = new Map<string, string>()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m || !METRIC_NAME.test(m[2] as string)) throw new Error(`bad comment line: ${line}`)
      if (m[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3] as string))
          throw new Error(`bad TYPE: ${line}`)
        types.set(m[2] as string, m[3] as string)
      }
      continue
    }
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`bad sample line: ${line}`)
    const name = m[1] as string
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(family)) throw new Error(`sample without a TYPE: ${line}`)
    const labels = Object.fromEntries(parseLabels(m[3] ?? '', line))
    const key = sampleKey(name, labels)
    if (samples.has(key)) throw new Error(`duplicate sample: ${line}`)
    samples.set(key, parseValue(m[4] as string, line))
  }
  return { types, samples }
}

/** A sample's value, 0 when absent (a counter with a label set not yet seen). */
export function sample(parsed: PromText, name: string, labels: Record<string, string> = {}): number {
  return parsed.samples.get(sampleKey(name, labels)) ?? 0
}
