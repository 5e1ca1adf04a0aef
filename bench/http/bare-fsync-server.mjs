/**
 * A bare node:http server that does what the broker's produce route must at minimum: read the
 * MessagePack body, write 100 B per request to a file and group-commit it (one write + fdatasync
 * round at a time, the requests that arrive meanwhile sharing the next), then answer with an offset
 * in the broker's shape. No fastify, no validation, no log. With `--broker` the same process also
 * runs an embedded broker (`startBroker`, `--workers 0`) and the route calls its
 * `broker.produce(topic, records, {acks})` instead, so the two differ only in the broker's work.
 * For bench/http/paced-cpu.mjs.
 *
 *     node bench/http/bare-fsync-server.mjs DATA_DIR [--broker]  → prints "bare-fsync listening on URL"
 */
import fs from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { Packr, Unpackr } from 'msgpackr'
import { DIST } from '../lib/proc.mjs'

const [dataDir, flag] = process.argv.slice(2)
const withBroker = flag === '--broker'
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

let running
if (withBroker) {
  const { loadConfig, startBroker } = await import(`${DIST}/src/index.js`)
  const { config } = loadConfig(['--port', '0', '--data-dir', dataDir, '--workers', '0'], {})
  running = await startBroker(config, { logger: false })
  await running.broker.createTopic({ name: 'paced', partitions: 1 })
}

const fd = fs.openSync(join(dataDir, 'bare.log'), 'a')
let waiting = []
let inFlight = false
let offset = 0
function flush() {
  if (inFlight || waiting.length === 0) return
  inFlight = true
  const round = waiting
  waiting = []
  fs.writeSync(fd, Buffer.alloc(100 * round.length, 0x61))
  fs.fdatasync(fd, (err) => {
    if (err) throw err
    inFlight = false
    for (const answer of round) answer()
    flush()
  })
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = unpackr.unpack(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
    const send = (result) => {
      res.writeHead(200, { 'content-type': 'application/vnd.msgpack' })
      res.end(packr.pack(result))
    }
    if (running) {
      running.broker.produce('paced', body.records, { acks: body.acks }).then(send, (err) => {
        res.writeHead(500)
        res.end(String(err))
      })
      return
    }
    waiting.push(() => send({ offsets: [{ partition: 0, offset: offset++ }], durability: 'fsynced' }))
    flush()
  })
})
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`bare-fsync listening on http://127.0.0.1:${server.address().port}\n`),
)
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    server.close()
    if (running) running.close().then(() => process.exit(0))
    else process.exit(0)
  })
