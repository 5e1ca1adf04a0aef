/**
 * CPU per single-record acks=all produce through the broker's fastify route vs a bare node:http
 * handler calling the same `broker.produce` in the same process (raw-path-server.mjs), beside the
 * bare fastify ceiling; a fixed number of requests per round from autocannon, interleaved rounds,
 * medians. An experiment for issue 13: how much of a request is the HTTP machinery around the work.
 *
 *     npm run build && node bench/http/raw-path.mjs [--requests 20000] [--rounds 5]
 */
import { loadavg } from 'node:os'
import { log, parseArgs } from '../lib/cli.mjs'
import { ROOT, startProcess, tempDir } from '../lib/proc.mjs'
import { cannonRequests, processCpuMs } from '../lib/request-cpu.mjs'
import { packr, WireClient } from '../lib/wire.mjs'

const opts = parseArgs()
const requests = opts.requests ?? 20_000
const rounds = opts.rounds ?? 5
const body = packr.pack({ records: [{ value: Buffer.alloc(100, 0x61) }], acks: 'all' })

const server = await startProcess(
  process.execPath,
  [`${ROOT}/bench/http/raw-path-server.mjs`, await tempDir('raw-path-')],
  {
    ready: /raw-path (\S+ \S+)/,
    name: 'raw-path',
  },
)
const [fastifyUrl, rawUrl] = server.match.split(' ')
const ceiling = await startProcess(process.execPath, [`${ROOT}/bench/http/ceiling-server.mjs`], {
  ready: /ceiling listening on (\S+)/,
  name: 'ceiling',
})
const wire = new WireClient(fastifyUrl)
await wire.createTopic('cpu', 1)
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${requests} requests × ${rounds} rounds`,
)
const targets = {
  ceiling: [ceiling.match, ceiling.pid],
  fastify: [fastifyUrl, server.pid],
  raw: [rawUrl, server.pid],
}
const results = Object.fromEntries(Object.keys(targets).map((k) => [k, []]))
try {
  for (let r = 0; r < rounds; r++) {
    for (const [name, [url, pid]] of Object.entries(targets)) {
      const target = `${url}/v1/topics/cpu/records`
      await cannonRequests(target, {
        body,
        type: 'application/vnd.msgpack',
        amount: Math.round(requests / 5),
      })
      const before = processCpuMs(pid)
      await cannonRequests(target, { body, type: 'application/vnd.msgpack', amount: requests })
      const after = processCpuMs(pid)
      results[name].push({
        process: ((after.process - before.process) * 1000) / requests,
        main: ((after.main - before.main) * 1000) / requests,
      })
    }
  }
} finally {
  await wire.close()
  await server.stop()
  await ceiling.stop()
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
for (const [name, rs] of Object.entries(results)) {
  log(
    `${name.padEnd(8)} CPU µs/request: process ${median(rs.map((x) => x.process)).toFixed(1)}, main thread ${median(rs.map((x) => x.main)).toFixed(1)}`,
  )
}
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
