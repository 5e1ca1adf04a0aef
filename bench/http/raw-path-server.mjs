/**
 * An experiment for issue 13 (not a product path): one embedded broker (the package's
 * `startBroker`, defaults, `--workers 0`) reached two ways in the same process — its fastify route
 * `POST /v1/topics/:topic/records`, and a bare node:http server that reads the MessagePack body,
 * calls the same `broker.produce(topic, records, {acks: 'all'})` and writes the packed answer, with
 * no validation, hooks, metrics, auth or error envelope. The difference in CPU per request between
 * the two (bench/http/raw-path.mjs) is what fastify and the broker's per-request machinery cost
 * over the produce work itself; the bare ceiling (ceiling-server.mjs) is fastify without the work.
 *
 *     node bench/http/raw-path-server.mjs DATA_DIR → prints "raw-path fastify URL raw URL"
 */
import http from 'node:http'
import { Packr, Unpackr } from 'msgpackr'
import { DIST } from '../lib/proc.mjs'

const { loadConfig, startBroker } = await import(`${DIST}/src/index.js`)
const dataDir = process.argv[2]
const { config } = loadConfig(['--port', '0', '--data-dir', dataDir, '--workers', '0'], {})
const running = await startBroker(config, { logger: false })
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

const raw = http.createServer((req, res) => {
  const topic = req.url?.split('/')[3] ?? ''
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = unpackr.unpack(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
    running.broker.produce(topic, body.records, { acks: 'all' }).then(
      (result) => {
        res.writeHead(200, { 'content-type': 'application/vnd.msgpack' })
        res.end(packr.pack(result))
      },
      (err) => {
        res.writeHead(500)
        res.end(String(err))
      },
    )
  })
})
await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve))
process.stdout.write(`raw-path ${running.url} http://127.0.0.1:${raw.address().port}\n`)
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    raw.close()
    running.close().then(() => process.exit(0))
  })
