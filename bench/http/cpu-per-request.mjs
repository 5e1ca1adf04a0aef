/**
 * CPU per request of single-record HTTP produce: the broker (acks=all) beside the bare fastify
 * ceiling (http/ceiling-server.mjs), the same body, the same fixed number of requests from
 * autocannon. CPU time comes from /proc (user + system, 1/100 s ticks): of the whole process and
 * of its main thread (the HTTP thread). CPU per request moves far less with the load of other work
 * on the machine than requests per second does, so it shows the cost of a change on a shared
 * machine; throughput still needs a quiet one (bench/README.md). Interleaved rounds, median shown.
 *
 *     npm run build && node bench/http/cpu-per-request.mjs [--requests 30000] [--rounds 3]
 *       [--connections 50] [--json] [--cpu-prof DIR]
 *       [--baseline DIST]   a second broker from another build (e.g. `node bench/clean-build.mjs main~3`),
 *                           measured in the same interleaved rounds: before/after in one run
 */
import { loadavg } from 'node:os'
import { log, parseArgs } from '../lib/cli.mjs'
import { ROOT, startBroker, startProcess } from '../lib/proc.mjs'
import { cannonRequests, processCpuMs } from '../lib/request-cpu.mjs'
import { packr, WireClient } from '../lib/wire.mjs'

const opts = parseArgs()
const requests = opts.requests ?? 30_000
const rounds = opts.rounds ?? 3
const connections = opts.connections ?? 50
const json = Boolean(opts.json)
const value = Buffer.alloc(100, 0x61)
const body = json
  ? Buffer.from(JSON.stringify({ records: [{ value: 'a'.repeat(100) }], acks: 'all' }))
  : packr.pack({ records: [{ value }], acks: 'all' })
const type = json ? 'application/json' : 'application/vnd.msgpack'

function cannon(url, amount) {
  return cannonRequests(`${url}/v1/topics/cpu/records`, { body, type, connections, amount })
}

async function measure(url, pid) {
  await cannon(url, Math.round(requests / 5)) // warm-up
  const before = processCpuMs(pid)
  const t = performance.now()
  const r = await cannon(url, requests)
  const seconds = (performance.now() - t) / 1000
  const after = processCpuMs(pid)
  if (r['2xx'] !== requests) throw new Error(`${r['2xx']} of ${requests} answered 2xx`)
  return {
    processUs: ((after.process - before.process) * 1000) / requests,
    mainUs: ((after.main - before.main) * 1000) / requests,
    reqPerSec: requests / seconds,
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const brokerArgs = []
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      ' ',
    )}; ${requests} requests × ${rounds} rounds, ${connections} connections, ${type}, broker args: ${process.env.STRATA_BENCH_BROKER_ARGS || '(defaults)'}`,
)
const results = { ceiling: [], broker: [], ...(opts.baseline && { baseline: [] }) }
const ceiling = await startProcess(process.execPath, [`${ROOT}/bench/http/ceiling-server.mjs`], {
  ready: /ceiling listening on (\S+)/,
  name: 'ceiling',
})
const broker = await startBroker({
  args: brokerArgs,
  nodeArgs: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', `${opts.cpuProf}/broker`] : [],
})
// STRATA_BENCH_BASELINE_ARGS: other arguments for the baseline (e.g. `--baseline dist
// STRATA_BENCH_BASELINE_ARGS="--workers 0"` compares settings of one build).
const baselineArgs = (process.env.STRATA_BENCH_BASELINE_ARGS ?? '').split(/\s+/).filter(Boolean)
const baseline = opts.baseline
  ? await startBroker({ args: [...brokerArgs, ...baselineArgs], dist: String(opts.baseline) })
  : undefined
const wire = new WireClient(broker.url)
const baseWire = baseline && new WireClient(baseline.url)
try {
  await wire.createTopic('cpu', 1)
  await baseWire?.createTopic('cpu', 1)
  for (let r = 0; r < rounds; r++) {
    results.ceiling.push(await measure(ceiling.match, ceiling.pid))
    results.broker.push(await measure(broker.url, broker.pid))
    if (baseline) results.baseline.push(await measure(baseline.url, baseline.pid))
  }
} finally {
  await wire.close()
  await baseWire?.close()
  await broker.stop()
  await baseline?.stop()
  await ceiling.stop()
}
for (const [name, rs] of Object.entries(results)) {
  log(
    `${name.padEnd(8)} CPU µs/request: process ${median(rs.map((x) => x.processUs)).toFixed(1)}, main thread ${median(rs.map((x) => x.mainUs)).toFixed(1)}; req/s ${median(rs.map((x) => x.reqPerSec)).toFixed(0)}`,
  )
}
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
