/**
 * `strata bench`: a quick produce-then-consume throughput run through the client library, for
 * "how fast is this broker from here" (the full benchmark suite lives in bench/).
 *
 * Produce sends single-record `send` calls with up to `--in-flight` unconfirmed, so it measures
 * what an application gets from the batching producer (records/s, MB/s and the confirm latency of
 * each send: p50, p99, max). Consume then reads the same records back with a TopicReader. A
 * temporary topic is created and deleted unless `--topic` names one (then nothing is deleted).
 */
import { randomBytes } from 'node:crypto'
import { Admin } from '../../client/admin.js'
import { Producer } from '../../client/producer.js'
import { TopicReader } from '../../client/topic-reader.js'
import { acksOption, type CommandSpec, flag, intOption, noExtraPositionals, stringOption } from '../args.js'
import { type CommandContext, ExitCodes } from '../context.js'
import { formatCount, Progress, printJson, renderTable, write } from '../output.js'

export interface PhaseResult {
  records: number
  elapsedMs: number
  recordsPerSec: number
  mbPerSec: number
  latencyMs?: { p50: number; p99: number; max: number }
}

export const bench: CommandSpec = {
  path: ['bench'],
  summary: 'Measure produce and consume throughput through the client library.',
  interruptible: true,
  options: {
    records: { type: 'string', value: 'N', description: 'records to produce (default 100000)' },
    size: { type: 'string', value: 'BYTES', description: 'value size in bytes (default 100)' },
    partitions: { type: 'string', value: 'N', description: 'partitions of the temporary topic (default 3)' },
    topic: {
      type: 'string',
      value: 'TOPIC',
      description: 'use this existing topic instead of a temporary one',
    },
    acks: { type: 'string', value: '0|1|all', description: "confirmation level (default 'all')" },
    'linger-ms': { type: 'string', value: 'MS', description: 'producer linger (default 5)' },
    'in-flight': { type: 'string', value: 'N', description: 'unconfirmed sends at a time (default 10000)' },
    'skip-consume': { type: 'boolean', description: 'only measure produce' },
  },
  examples: ['strata bench --records 200000 --size 512 --acks 1'],
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const records = intOption(ctx, 'records', 100_000, 1)
    const size = intOption(ctx, 'size', 100, 0)
    const inFlight = intOption(ctx, 'in-flight', 10_000, 1)
    const admin = new Admin(ctx.client())
    const given = stringOption(ctx, 'topic')
    const topic = given ?? `strata-bench-${Date.now().toString(36)}`
    if (given === undefined)
      await admin.createTopic(topic, { partitions: intOption(ctx, 'partitions', 3, 1) })
    try {
      const produced = await producePhase(ctx, topic, records, size, inFlight)
      const consumed =
        flag(ctx, 'skip-consume') || ctx.signal.aborted
          ? undefined
          : await consumePhase(ctx, topic, produced.records, size)
      await report(ctx, { topic, size, produce: produced, ...(consumed && { consume: consumed }) })
    } finally {
      if (given === undefined) await admin.deleteTopic(topic).catch(() => undefined)
    }
    return ctx.signal.aborted ? ExitCodes.INTERRUPTED : ExitCodes.OK
  },
}

async function producePhase(
  ctx: CommandContext,
  topic: string,
  records: number,
  size: number,
  maxInFlight: number,
): Promise<PhaseResult> {
  const acks = acksOption(ctx)
  const producer = new Producer(ctx.client(), {
    lingerMs: intOption(ctx, 'linger-ms', 5),
    ...(acks !== undefined && { acks }),
  })
  const value = randomBytes(size)
  const latencies = new Float64Array(records)
  const progress = new Progress(ctx.io, 'produce', records, ctx.json)
  const inFlight = new Set<Promise<void>>()
  let failure: unknown
  let sent = 0
  const started = performance.now()
  for (; sent < records && failure === undefined && !ctx.signal.aborted; sent++) {
    const at = performance.now()
    const i = sent
    const p = producer.send(topic, { value }).then(
      () => {
        latencies[i] = performance.now() - at
        progress.tick()
      },
      (err: unknown) => {
        failure ??= err
      },
    )
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  await producer.close()
  progress.done()
  if (failure !== undefined) throw failure
  const elapsedMs = performance.now() - started
  return { ...rates(sent, size, elapsedMs), latencyMs: percentiles(latencies.subarray(0, sent)) }
}

async function consumePhase(
  ctx: CommandContext,
  topic: string,
  expected: number,
  size: number,
): Promise<PhaseResult> {
  const reader = new TopicReader(ctx.client(), {
    topics: topic,
    from: 'earliest',
    follow: false,
    maxRecords: 5_000,
  })
  const progress = new Progress(ctx.io, 'consume', expected, ctx.json)
  const stop = () => void reader.close()
  ctx.signal.addEventListener('abort', stop, { once: true })
  let count = 0
  const started = performance.now()
  try {
    await reader.start()
    for (;;) {
      const next = await reader.next()
      if (next.done) break
      count++
      progress.tick()
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop)
    await reader.close()
    progress.done()
  }
  return rates(count, size, performance.now() - started)
}

function rates(records: number, size: number, elapsedMs: number): PhaseResult {
  const seconds = Math.max(elapsedMs, 1) / 1000
  return {
    records,
    elapsedMs: Math.round(elapsedMs),
    recordsPerSec: Math.round(records / seconds),
    mbPerSec: Number(((records * size) / seconds / 1e6).toFixed(2)),
  }
}

function percentiles(values: Float64Array): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 }
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
  return { p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? 0) }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}

async function report(
  ctx: CommandContext,
  result: { topic: string; size: number; produce: PhaseResult; consume?: PhaseResult },
): Promise<void> {
  if (ctx.json) {
    await printJson(ctx.io, result)
    return
  }
  const row = (phase: string, r: PhaseResult) => [
    phase,
    formatCount(r.records),
    (r.elapsedMs / 1000).toFixed(2),
    formatCount(r.recordsPerSec),
    r.mbPerSec.toFixed(2),
    r.latencyMs ? r.latencyMs.p50.toFixed(1) : '-',
    r.latencyMs ? r.latencyMs.p99.toFixed(1) : '-',
    r.latencyMs ? r.latencyMs.max.toFixed(1) : '-',
  ]
  const rows = [row('produce', result.produce), ...(result.consume ? [row('consume', result.consume)] : [])]
  await write(
    ctx.io.stdout,
    `bench on ${result.topic}, ${result.size}-byte values\n${renderTable(
      ['PHASE', 'RECORDS', 'SECONDS', 'RECORDS/S', 'MB/S', 'P50-MS', 'P99-MS', 'MAX-MS'],
      rows,
    )}`,
  )
}
