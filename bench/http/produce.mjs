/**
 * HTTP produce with autocannon, acks=all, and the same bodies against a bare fastify route in the
 * same run: the broker's figure is reported as a ratio of that ceiling.
 *
 * Bodies: one 100 B record per request as JSON and as MessagePack; MessagePack batches of 100 and
 * 1,000 records of 100 B. Each server gets a warm-up run, then a measured run; latency is taken
 * per response from autocannon's 'response' event into a microsecond hdr histogram (autocannon's
 * own histogram has 1 ms resolution). After the broker runs, the topic's log end offset is checked
 * against the 2xx count so a figure never counts records that were not written.
 *
 *     node bench/http/produce.mjs [--duration 5] [--warmup 1] [--connections 50] [--batch-connections 10]
 *                                 [--only single-json,single-msgpack,batch-100,batch-1000] [--cpu-prof DIR]
 */
import autocannon from 'autocannon'
import { log, scenarioMain } from '../lib/cli.mjs'
import { FsyncMeter } from '../lib/fsync.mjs'
import { ROOT, startBroker, startProcess } from '../lib/proc.mjs'
import { histogram, recordMs, round, summarize } from '../lib/stats.mjs'
import { packr, WireClient } from '../lib/wire.mjs'

const RECORD_BYTES = 100
const TOPIC = 'bench-http'

export function bodies() {
  const bin = Buffer.alloc(RECORD_BYTES, 0x61)
  const str = 'a'.repeat(RECORD_BYTES)
  const batch = (n) => packr.pack({ records: Array.from({ length: n }, () => ({ value: bin })), acks: 'all' })
  return [
    {
      name: 'single-json',
      records: 1,
      type: 'application/json',
      body: Buffer.from(JSON.stringify({ records: [{ value: str }], acks: 'all' })),
    },
    {
      name: 'single-msgpack',
      records: 1,
      type: 'application/vnd.msgpack',
      body: packr.pack({ records: [{ value: bin }], acks: 'all' }),
    },
    { name: 'batch-100', records: 100, type: 'application/vnd.msgpack', body: batch(100) },
    { name: 'batch-1000', records: 1000, type: 'application/vnd.msgpack', body: batch(1000) },
  ]
}

function cannon(url, body, { connections, duration }) {
  const h = histogram()
  const instance = autocannon({
    url: `${url}/v1/topics/${TOPIC}/records`,
    method: 'POST',
    headers: { 'content-type': body.type },
    body: body.body,
    connections,
    pipelining: 1,
    duration,
  })
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status < 300) recordMs(h, ms)
  })
  return new Promise((resolve, reject) => {
    instance.once('done', (result) => resolve({ result, latency: summarize(h) }))
    instance.once('error', reject)
  })
}

function figures(body, { result, latency }) {
  const seconds = result.duration
  const ok = result['2xx']
  const reqPerSec = ok / seconds
  return {
    requests: ok,
    errors: result.errors + result.timeouts + result.non2xx,
    reqPerSec: round(reqPerSec, 0),
    recordsPerSec: round(reqPerSec * body.records, 0),
    recordMBps: round((reqPerSec * body.records * RECORD_BYTES) / 1e6, 2),
    bodyMBps: round((reqPerSec * body.body.length) / 1e6, 2),
    latencyMs: latency,
  }
}

export async function run(opts = {}) {
  const duration = opts.duration ?? 5
  const warmup = opts.warmup ?? 1
  const only = opts.only ? String(opts.only).split(',') : undefined
  const list = bodies().filter((b) => !only || only.includes(b.name))
  const connFor = (b) => (b.records === 1 ? (opts.connections ?? 50) : (opts.batchConnections ?? 10))

  // 1. The ceiling: bare fastify, same bodies.
  const ceilingArgs = opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/ceiling`] : []
  const ceiling = await startProcess(
    process.execPath,
    [...ceilingArgs, `${ROOT}/bench/http/ceiling-server.mjs`],
    {
      ready: /ceiling listening on (\S+)/,
      name: 'ceiling',
    },
  )
  const ceilingFigures = {}
  try {
    for (const b of list) {
      if (warmup > 0) await cannon(ceiling.match, b, { connections: connFor(b), duration: warmup })
      ceilingFigures[b.name] = figures(
        b,
        await cannon(ceiling.match, b, { connections: connFor(b), duration }),
      )
      log(`ceiling ${b.name}: ${ceilingFigures[b.name].reqPerSec} req/s`)
    }
  } finally {
    await ceiling.stop()
  }

  // 2. The broker, same bodies, acks=all.
  const broker = await startBroker({
    nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker-http-produce`] : [],
    traceFsync: Boolean(opts.traceFsync),
  })
  const wire = new WireClient(broker.url)
  const out = []
  try {
    await wire.createTopic(TOPIC, 1)
    const meter = new FsyncMeter(wire, broker)
    // Requests autocannon still had in flight when a run ended are written but not counted.
    let written = 0
    let inFlightBound = 0
    for (const b of list) {
      if (warmup > 0) {
        const w = await cannon(broker.url, b, { connections: connFor(b), duration: warmup })
        written += w.result['2xx'] * b.records
        inFlightBound += connFor(b) * b.records
      }
      await meter.start()
      const measured = await cannon(broker.url, b, { connections: connFor(b), duration })
      const f = figures(b, measured)
      written += measured.result['2xx'] * b.records
      inFlightBound += connFor(b) * b.records
      const groupCommit = await meter.stop(measured.result['2xx'] * b.records)
      const c = ceilingFigures[b.name]
      const entry = {
        scenario: `http-produce/${b.name}`,
        config: {
          recordBytes: RECORD_BYTES,
          recordsPerRequest: b.records,
          bodyBytes: b.body.length,
          connections: connFor(b),
          pipelining: 1,
          durationS: duration,
          warmupS: warmup,
          acks: 'all',
          partitions: 1,
        },
        broker: f,
        ceiling: c,
        ratioToCeiling: round(f.reqPerSec / c.reqPerSec, 3),
        groupCommit,
      }
      out.push(entry)
      log(
        `broker ${b.name}: ${f.reqPerSec} req/s, ${f.recordsPerSec} records/s (${Math.round(entry.ratioToCeiling * 100)}% of ceiling), p99 ${f.latencyMs.p99} ms`,
      )
    }
    const leo = (await wire.describeTopic(TOPIC)).partitions[0].logEndOffset
    if (leo < written || leo > written + inFlightBound) {
      throw new Error(
        `the log holds ${leo} records; ${written} were confirmed (+ at most ${inFlightBound} in flight)`,
      )
    }
  } finally {
    await wire.close()
    await broker.stop()
  }
  return out
}

await scenarioMain(import.meta.url, run)
