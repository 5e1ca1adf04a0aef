/**
 * The ceiling for HTTP produce: a bare fastify route that accepts the same bodies as
 * POST /v1/topics/:topic/records (JSON, or MessagePack decoded as the broker decodes it) and does
 * nothing with them, answering with a constant reply of the broker's shape and size
 * ({offsets: one per record, durability}) in the request's encoding. Same fastify options as the
 * broker (body limit, no request logging). No schema validation, no storage, no fsync.
 *
 *     node bench/http/ceiling-server.mjs   → prints "ceiling listening on http://127.0.0.1:PORT"
 */
import Fastify from 'fastify'
import { Packr, Unpackr } from 'msgpackr'

const MSGPACK = 'application/vnd.msgpack'
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024, disableRequestLogging: true })
app.addContentTypeParser([MSGPACK], { parseAs: 'buffer' }, (_req, body, done) => {
  try {
    done(null, unpackr.unpack(body))
  } catch (err) {
    done(err, undefined)
  }
})

const replies = new Map()
function replyFor(count, msgpack) {
  const key = `${count}:${msgpack}`
  let body = replies.get(key)
  if (!body) {
    const value = {
      offsets: Array.from({ length: count }, (_, i) => ({ partition: 0, offset: 1_000_000 + i })),
      durability: 'fsynced',
    }
    body = msgpack ? packr.pack(value) : JSON.stringify(value)
    replies.set(key, body)
  }
  return body
}

app.post('/v1/topics/:topic/records', async (req, reply) => {
  const msgpack = String(req.headers['content-type']).includes('msgpack')
  const count = Array.isArray(req.body?.records) ? req.body.records.length : 0
  return reply.type(msgpack ? MSGPACK : 'application/json; charset=utf-8').send(replyFor(count, msgpack))
})

const url = await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) })
process.stdout.write(`ceiling listening on ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => app.close().then(() => process.exit(0)))
