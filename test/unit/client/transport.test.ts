/**
 * Transport contract: MessagePack and JSON bodies round-trip every value kind; error envelopes
 * become the typed classes of src/errors.ts with their details and `Retry-After`; a refused
 * connection is "not delivered" and a connection cut mid-request "maybe delivered"; one
 * keep-alive pool serves many requests over few connections.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { BrokerUnreachableError, ClientClosedError } from '../../../src/client/client-errors.js'
import { retryAfterOf } from '../../../src/client/retry.js'
import { HttpTransport, parseRetryAfter } from '../../../src/client/transport.js'
import { decodeBody, encodeBody } from '../../../src/client/wire-codec.js'
import { InternalError, NotLeaderError, OffsetOutOfRangeError, ThrottledError } from '../../../src/errors.js'
import { answer, cutBeforeWrite, FakeBroker, fail } from './fake-broker.js'

let broker: FakeBroker
let transport: HttpTransport

beforeEach(async () => {
  broker = new FakeBroker()
  broker.app.post('/echo', async (req, reply) =>
    answer(reply, 200, { got: req.body, type: req.headers['content-type'] }),
  )
  broker.app.get('/err/:code', async (req, reply) => {
    const { code } = req.params as { code: string }
    if (code === 'THROTTLED') reply.header('retry-after', '2')
    return fail(reply, code === 'THROTTLED' ? 429 : 416, code, `failed with ${code}`, { logStartOffset: 5 })
  })
  broker.app.get('/plain', async (_req, reply) =>
    reply.code(502).type('text/html').send('<h1>bad gateway</h1>'),
  )
  await broker.start()
  transport = new HttpTransport()
})

afterEach(async () => {
  await transport.close()
  await broker.stop()
})

const sample = {
  text: 'héllo',
  int: 42,
  neg: -7,
  float: 0.25,
  large: 2 ** 53 - 1,
  huge: 2n ** 63n - 1n,
  bytes: Buffer.from([1, 2, 3]),
  nested: { list: [1, 'two', null, { three: true }] },
}

describe('bodies', () => {
  test('MessagePack is the default and round-trips every value kind', async () => {
    const res = await transport.request<{ got: unknown; type: string }>(broker.url, {
      method: 'POST',
      path: '/echo',
      body: sample,
    })
    expect(res.body.type).toBe('application/vnd.msgpack')
    expect(res.body.got).toEqual(sample)
  })

  test('JSON mode sends JSON and carries bytes as {$base64}', async () => {
    const json = new HttpTransport({ encoding: 'json' })
    try {
      const res = await json.request<{ got: { bytes: unknown; large: number }; type: string }>(broker.url, {
        method: 'POST',
        path: '/echo',
        body: { bytes: Buffer.from('hi'), large: 2 ** 40 },
      })
      expect(res.body.type).toBe('application/json')
      expect(res.body.got.bytes).toEqual(Buffer.from('hi'))
      expect(res.body.got.large).toBe(2 ** 40)
    } finally {
      await json.close()
    }
  })

  test('undefined properties are left out, as JSON would', () => {
    const bytes = encodeBody('msgpack', { a: 1, b: undefined, c: [undefined] })
    expect(decodeBody('application/vnd.msgpack', bytes)).toEqual({ a: 1, c: [null] })
  })

  test('a body with records (packed by the fast path) decodes exactly as msgpackr packs it', () => {
    const records = [
      { value: Buffer.alloc(0) },
      { value: Buffer.alloc(255, 1), key: 'k', partition: undefined },
      {
        value: new Uint8Array(300).fill(2),
        headers: { h: 'v', raw: Buffer.from([9]) },
        timestamp: 1_700_000_000_123,
      },
      { value: Buffer.alloc(70_000, 3), key: Buffer.from('bytes key') },
      { value: sample, key: 2n ** 60n },
      { value: 'text', key: undefined, headers: undefined },
      { value: null },
      ...Array.from({ length: 20 }, (_, i) => ({ value: i, key: `key-${i}` })),
    ]
    const body = { records, acks: 'all', producerId: 2 ** 52 + 3, sequence: 7, extra: undefined }
    const fast = encodeBody('msgpack', body)
    const decoded = decodeBody('application/vnd.msgpack', fast)
    // Wrapped, the same body takes msgpackr's path.
    const generic = decodeBody('application/vnd.msgpack', encodeBody('msgpack', { wrapped: body }))
    expect(decoded).toEqual((generic as { wrapped: unknown }).wrapped)
    expect((decoded as { records: unknown[] }).records[1]).toEqual({ value: Buffer.alloc(255, 1), key: 'k' })
    expect(decoded).not.toHaveProperty('extra')
  })
})

describe('errors', () => {
  test('an envelope becomes its typed class with details and Retry-After', async () => {
    const err = await transport.request(broker.url, { method: 'GET', path: '/err/THROTTLED' }).catch((e) => e)
    expect(err).toBeInstanceOf(ThrottledError)
    expect(err.retriable).toBe(true)
    expect(retryAfterOf(err)).toBe(2000)
    const range = await transport
      .request(broker.url, { method: 'GET', path: '/err/OFFSET_OUT_OF_RANGE' })
      .catch((e) => e)
    expect(range).toBeInstanceOf(OffsetOutOfRangeError)
    expect(range.details).toEqual({ logStartOffset: 5 })
  })

  test('an unknown code is a non-retriable InternalError carrying the code', async () => {
    const err = await transport.request(broker.url, { method: 'GET', path: '/err/BRAND_NEW' }).catch((e) => e)
    expect(err).toBeInstanceOf(InternalError)
    expect(err.retriable).toBe(false)
    expect(err.details.code).toBe('BRAND_NEW')
  })

  test('a non-envelope error body still maps to a typed error', async () => {
    const err = await transport.request(broker.url, { method: 'GET', path: '/plain' }).catch((e) => e)
    expect(err).toBeInstanceOf(InternalError)
    expect(err.details.statusCode).toBe(502)
  })

  test('NOT_LEADER keeps the leader URL in details', async () => {
    broker.inject('GET', /^\/healthz$/, (_req, reply) => {
      fail(reply, 421, 'NOT_LEADER', 'not me', { leaderUrl: 'http://127.0.0.1:1' })
      return true
    })
    const err = await transport.request(broker.url, { method: 'GET', path: '/healthz' }).catch((e) => e)
    expect(err).toBeInstanceOf(NotLeaderError)
    expect(err.details.leaderUrl).toBe('http://127.0.0.1:1')
  })

  test('a refused connection was not delivered', async () => {
    const down = 'http://127.0.0.1:1'
    const err = await transport.request(down, { method: 'GET', path: '/healthz' }).catch((e) => e)
    expect(err).toBeInstanceOf(BrokerUnreachableError)
    expect(err.maybeDelivered).toBe(false)
    expect(err.url).toBe(down)
  })

  test('a connection cut mid-request may have been delivered', async () => {
    broker.inject('POST', /^\/echo$/, cutBeforeWrite)
    const err = await transport
      .request(broker.url, { method: 'POST', path: '/echo', body: {} })
      .catch((e) => e)
    expect(err).toBeInstanceOf(BrokerUnreachableError)
    expect(err.maybeDelivered).toBe(true)
  })

  test('no answer within timeoutMs is unreachable, maybe delivered', async () => {
    broker.inject('GET', /^\/healthz$/, async () => {
      await new Promise((r) => setTimeout(r, 300))
      return false
    })
    const err = await transport
      .request(broker.url, { method: 'GET', path: '/healthz', timeoutMs: 50 })
      .catch((e) => e)
    expect(err).toBeInstanceOf(BrokerUnreachableError)
    expect(err.maybeDelivered).toBe(true)
  })

  test('requests after close are refused', async () => {
    await transport.close()
    await expect(transport.request(broker.url, { method: 'GET', path: '/healthz' })).rejects.toBeInstanceOf(
      ClientClosedError,
    )
  })
})

describe('connections', () => {
  test('many sequential requests reuse one keep-alive connection', async () => {
    const sockets = new Set<unknown>()
    broker.app.server.on('connection', (s) => sockets.add(s))
    for (let i = 0; i < 20; i++) await transport.request(broker.url, { method: 'GET', path: '/healthz' })
    // undici may open a second socket while the first finishes its previous response.
    expect(sockets.size).toBeLessThanOrEqual(2)
  })

  test('a server URL with a path prefix keeps the prefix', async () => {
    const err = await transport
      .request(`${broker.url}/prefix/`, { method: 'GET', path: '/healthz' })
      .catch((e) => e)
    // fastify answers its own 404 for /prefix/healthz: the prefix reached the server.
    expect(err.details.statusCode).toBe(404)
  })
})

test('parseRetryAfter reads seconds and HTTP dates', () => {
  expect(parseRetryAfter('3')).toBe(3000)
  expect(parseRetryAfter(undefined)).toBeUndefined()
  expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
  expect(parseRetryAfter('soon')).toBeUndefined()
})
