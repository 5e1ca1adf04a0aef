/**
 * CPU per single-record acks=all produce when requests come paced (1,000 and 5,000 a second, as in
 * the e2e latency workloads) rather than back to back: the broker (its real HTTP route, default
 * settings) beside a bare node:http server that only group-commits 100 B a request, and the same
 * bare server calling an embedded broker's `broker.produce` (bare-fsync-server.mjs). Then the same
 * three at saturation (autocannon, 50 connections) for comparison. Whole-process and main-thread
 * CPU from /proc over each window. An experiment for issue 13: what an isolated request costs on
 * this machine, and how much of it is the broker's work.
 *
 *     npm run build && node bench/http/paced-cpu.mjs [--seconds 6]
 */
import { loadavg } from 'node:os'
import { Pool } from 'undici'
import { log, parseArgs } from '../lib/cli.mjs'
import { Pacer } from '../lib/pacer.mjs'
import { ROOT, startBroker, startProcess, tempDir } from '../lib/proc.mjs'
import { cannonRequests, processCpuMs } from '../lib/request-cpu.mjs'
import { packr, WireClient } from '../lib/wire.mjs'

const opts = parseArgs()
const seconds = opts.seconds ?? 6
const body = packr.pack({ records: [{ value: Buffer.alloc(100, 0x61) }], acks: 'all' })
const MSGPACK = 'application/vnd.msgpack'

const broker = await startBroker({})
const wire = new WireClient(broker.url)
await wire.createTopic('paced', 1)
const bare = await startProcess(
  process.execPath,
  [`${ROOT}/bench/http/bare-fsync-server.mjs`, await tempDir('bare')],
  {
    ready: /bare-fsync listening on (\S+)/,
    name: 'bare-fsync',
  },
)
const bareBroker = await startProcess(
  process.execPath,
  [`${ROOT}/bench/http/bare-fsync-server.mjs`, await tempDir('bare-broker'), '--broker'],
  { ready: /bare-fsync listening on (\S+)/, name: 'bare-fsync --broker' },
)
const targets = {
  'broker route': [broker.url, broker.pid],
  'bare + group fsync': [bare.match, bare.pid],
  'bare + broker.produce': [bareBroker.match, bareBroker.pid],
}

/** Sends `rate` requests a second for `secs` seconds, each as it falls due; waits for every answer. */
async function paced(pool, rate, secs) {
  const pacer = new Pacer(1000 / rate)
  const total = rate * secs
  const answers = []
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, await pacer.due())
    for (; sent < due; sent++) {
      answers.push(
        pool
          .request({
            path: '/v1/topics/paced/records',
            method: 'POST',
            headers: { 'content-type': MSGPACK },
            body,
          })
          .then((r) => r.body.arrayBuffer()),
      )
    }
  }
  await pacer.stop()
  await Promise.all(answers)
}

function perRequest(pid, requests, work) {
  return async () => {
    const before = processCpuMs(pid)
    await work()
    const after = processCpuMs(pid)
    return {
      processUs: Math.round(((after.process - before.process) * 1000) / requests),
      mainUs: Math.round(((after.main - before.main) * 1000) / requests),
    }
  }
}

log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
const out = {}
try {
  for (const [name, [url, pid]] of Object.entries(targets)) {
    const pool = new Pool(url, { connections: 8 })
    out[name] = {}
    for (const rate of [1000, 5000]) {
      await paced(pool, rate, 2) // warm-up
      out[name][`${rate}/s`] = await perRequest(pid, rate * seconds, () => paced(pool, rate, seconds))()
    }
    await pool.close()
    const target = `${url}/v1/topics/paced/records`
    await cannonRequests(target, { body, type: MSGPACK, amount: 10_000 })
    out[name].saturated = await perRequest(pid, 30_000, () =>
      cannonRequests(target, { body, type: MSGPACK, amount: 30_000 }),
    )()
    log(`${name}: ${JSON.stringify(out[name])}`)
  }
} finally {
  await wire.close()
  await broker.stop()
  await bare.stop()
  await bareBroker.stop()
}
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
