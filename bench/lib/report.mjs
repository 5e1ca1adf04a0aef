/** Tables (Markdown pipe tables, so a run's output pastes into bench/RESULTS.md) and targets. */
import { fmtInt, fmtNum } from './stats.mjs'

export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => (c === undefined || c === null ? '–' : String(c))))
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  const line = (r) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`
  const sep = `|${widths.map((w, i) => (i === 0 ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n')
}

const pct = (x) => (x === undefined ? '–' : `${Math.round(x * 100)}%`)
const ms = (x) => (x === undefined ? '–' : fmtNum(x, x < 10 ? 2 : 1))
const cores = (c) => [c?.brokerCores ?? '–', c?.benchCores ?? '–']
const gc = (g) => [
  g?.fsyncsPerSec === undefined ? '–' : fmtInt(g.fsyncsPerSec),
  g?.recordsPerFsync === undefined ? '–' : fmtNum(g.recordsPerFsync, 1),
  g?.meanFsyncMs === undefined ? '–' : fmtNum(g.meanFsyncMs, 2),
]

/** One section per kind of result, in the order results were produced. */
export function renderResults(results) {
  const by = (prefix) => results.filter((r) => r.scenario.startsWith(prefix))
  const out = []
  const http = by('http-produce/')
  if (http.length) {
    out.push('HTTP produce, autocannon, acks=all (broker vs bare fastify in the same run)')
    out.push(
      table(
        [
          'body',
          'conns',
          'req/s',
          'records/s',
          'MB/s',
          'p50 ms',
          'p99 ms',
          'ceiling req/s',
          'ratio',
          'fsyncs/s',
          'rec/fsync',
          'fsync ms',
          'broker cores',
          'bench cores',
        ],
        http.map((r) => [
          r.scenario.slice('http-produce/'.length),
          r.config.connections,
          fmtInt(r.broker.reqPerSec),
          fmtInt(r.broker.recordsPerSec),
          fmtNum(r.broker.recordMBps, 1),
          ms(r.broker.latencyMs.p50),
          ms(r.broker.latencyMs.p99),
          fmtInt(r.ceiling.reqPerSec),
          pct(r.ratioToCeiling),
          ...gc(r.groupCommit),
          ...cores(r.groupCommit?.cpu),
        ]),
      ),
    )
  }
  const client = by('client-produce/')
  if (client.length) {
    out.push('Client-driven produce (Producer, one send() per record, acks=all)')
    out.push(
      table(
        [
          'record',
          'records/s',
          'MB/s',
          'send p50 ms',
          'send p99 ms',
          'fsyncs/s',
          'rec/fsync',
          'fsync ms',
          'broker cores',
          'bench cores',
        ],
        client.map((r) => [
          `${r.config.recordBytes} B`,
          fmtInt(r.recordsPerSec),
          fmtNum(r.MBps, 1),
          ms(r.sendLatencyMs.p50),
          ms(r.sendLatencyMs.p99),
          ...gc(r.groupCommit),
          ...cores(r.groupCommit?.cpu),
        ]),
      ),
    )
  }
  const e2e = by('e2e-latency/')
  if (e2e.length) {
    out.push(
      'End-to-end latency, produce → delivery to a consumer-group member (client Consumer): manual ack = commit(record) every 100 records, riding on the next fetch (as the peers of bench/compare ack); auto ack = autoCommit, the broker commits (fsynced) before each answer',
    )
    out.push(
      table(
        [
          'ack',
          'rate/s',
          'achieved/s',
          'p50 ms',
          'p99 ms',
          'p99.9 ms',
          'max ms',
          'send→deliv p99',
          'fsyncs/s',
          'rec/fsync',
          'fsync ms',
          'broker cores',
          'bench cores',
        ],
        e2e.map((r) => [
          r.config.ack ?? 'auto',
          fmtInt(r.config.rate),
          fmtInt(r.achievedRate),
          ms(r.dueToDeliveredMs.p50),
          ms(r.dueToDeliveredMs.p99),
          ms(r.dueToDeliveredMs.p999),
          ms(r.dueToDeliveredMs.max),
          ms(r.sendToDeliveredMs.p99),
          ...gc(r.groupCommit),
          ...cores(r.groupCommit?.cpu),
        ]),
      ),
    )
  }
  const fan = by('fanout/')
  if (fan.length) {
    out.push(`Fanout (${fan[0].config.consumer})`)
    out.push(
      table(
        ['groups', 'records', 'delivered/s', 'producer records/s', 'seconds', 'broker cores', 'bench cores'],
        fan.map((r) => [
          r.config.groups,
          fmtInt(r.config.records),
          fmtInt(r.deliveredPerSec),
          fmtInt(r.producedPerSec),
          fmtNum(r.seconds, 2),
          ...cores(r.cpu),
        ]),
      ),
    )
  }
  const drain = by('drain')
  if (drain.length) {
    out.push(
      `Drain (${drain[0].config.consumer}${drain.length > 1 && drain.some((d) => d.scenario === 'drain-raw-http') ? '; drain-raw-http: the HTTP API read directly' : ''})`,
    )
    out.push(
      table(
        [
          'reader',
          'records',
          'maxRecords/fetch',
          'records/s',
          'MB/s',
          'seconds',
          'committed',
          'broker cores',
          'bench cores',
        ],
        drain.map((r) => [
          r.scenario,
          fmtInt(r.config.records),
          fmtInt(r.config.maxRecords),
          fmtInt(r.recordsPerSec),
          fmtNum(r.MBps, 1),
          fmtNum(r.seconds, 2),
          r.committed === undefined ? '–' : fmtInt(r.committed),
          ...cores(r.cpu),
        ]),
      ),
    )
  }
  return out.join('\n\n')
}

/** The targets of issues 8 and 13 (2-core machine, acks=all, load generator included; issue 13 set 1 KiB at 150 MB/s). */
export const TARGETS = [
  {
    name: 'client produce 100 B',
    unit: 'records/s',
    target: 300_000,
    higher: true,
    pick: (rs) => find(rs, 'client-produce/100B')?.recordsPerSec,
  },
  {
    name: 'client produce 1 KiB',
    unit: 'MB/s',
    target: 150,
    higher: true,
    pick: (rs) => find(rs, 'client-produce/1024B')?.MBps,
  },
  // Issue 13: end-to-end p99 ≤ 5 ms and p50 ≤ 1 ms at 1,000 and 5,000 records/s (manual ack, as the
  // peers of bench/compare ack).
  ...[1000, 5000].flatMap((rate) => [
    {
      name: `e2e p99 at ${rate.toLocaleString('en-US')}/s`,
      unit: 'ms',
      target: 5,
      higher: false,
      pick: (rs) => find(rs, `e2e-latency/${rate}rps/manual-ack`)?.dueToDeliveredMs.p99,
    },
    {
      name: `e2e p50 at ${rate.toLocaleString('en-US')}/s`,
      unit: 'ms',
      target: 1,
      higher: false,
      pick: (rs) => find(rs, `e2e-latency/${rate}rps/manual-ack`)?.dueToDeliveredMs.p50,
    },
  ]),
  {
    name: 'fanout to 4 groups',
    unit: 'delivered/s',
    target: 250_000,
    higher: true,
    pick: (rs) => find(rs, 'fanout/4-groups')?.deliveredPerSec,
  },
  {
    name: 'drain 200,000',
    unit: 'records/s',
    target: 650_000,
    higher: true,
    pick: (rs) => median(rs.filter((r) => r.scenario === 'drain').map((r) => r.recordsPerSec)),
  },
  {
    name: 'single-record HTTP (msgpack) / ceiling',
    unit: 'ratio',
    target: 0.7,
    higher: true,
    pick: (rs) => find(rs, 'http-produce/single-msgpack')?.ratioToCeiling,
  },
  {
    name: 'single-record HTTP (JSON) / ceiling',
    unit: 'ratio',
    target: 0.7,
    higher: true,
    pick: (rs) => find(rs, 'http-produce/single-json')?.ratioToCeiling,
  },
]

function find(results, scenario) {
  return results.find((r) => r.scenario === scenario)
}

export function median(xs) {
  if (!xs.length) return undefined
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

export function evaluateTargets(results) {
  return TARGETS.map((t) => {
    const measured = t.pick(results)
    const met = measured === undefined ? undefined : t.higher ? measured >= t.target : measured <= t.target
    const ofTarget = measured === undefined ? undefined : t.higher ? measured / t.target : t.target / measured
    return { name: t.name, unit: t.unit, target: t.target, measured, met, ofTarget }
  })
}

export function renderTargets(evaluated) {
  return table(
    ['target', 'wanted', 'measured', 'met', 'of target'],
    evaluated.map((e) => [
      e.name,
      `${e.unit === 'ms' ? '≤' : '≥'} ${e.unit === 'ratio' ? e.target : fmtInt(e.target)} ${e.unit === 'ratio' ? '' : e.unit}`.trim(),
      e.measured === undefined
        ? 'not run'
        : e.unit === 'ratio'
          ? fmtNum(e.measured, 3)
          : e.unit === 'ms' || e.unit === 'MB/s'
            ? fmtNum(e.measured, 1)
            : fmtInt(e.measured),
      e.met === undefined ? '–' : e.met ? 'yes' : 'no',
      e.ofTarget === undefined ? '–' : `${Math.round(e.ofTarget * 100)}%`,
    ]),
  )
}
