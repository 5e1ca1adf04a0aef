/**
 * Hardening of the HTTP edge (issue 11), against real broker processes: bodies validated without
 * type coercion, internal topics closed to clients, MessagePack values kept exactly or refused,
 * costly extension values refused cheaply, every error in the envelope, and one name limit that
 * works on every route. Each test names its item.
 */
import { connect } from 'node:net'
import { Packr } from 'msgpackr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp, unpack } from '../../helpers/http.js'

let broker: BrokerProcess
let n = 0
const unique = (prefix = 't') => `${prefix}-${process.pid}-${++n}`

beforeAll(async () => {
  broker = await startBroker({ args: ['--max-request-bytes', String(16 * 1024 * 1024)] })
})
afterAll(async () => {
  await broker?.stop()
})

async function createTopic(name = unique()): Promise<string> {
  const res = await json(`${broker.url}/v1/topics`, 'POST', { name })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return name
}

async function highWatermark(topic: string, partition = 0): Promise<number> {
  const res = await json(`${broker.url}/v1/topics/${topic}`, 'GET')
  expect(res.status).toBe(200)
  return res.body.partitions[partition].highWatermark
}

/** Sends raw bytes as a MessagePack body and reads the answer in MessagePack. */
async function postMsgpack(url: string, body: Buffer): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.msgpack', accept: 'application/vnd.msgpack' },
    body,
  })
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, body: bytes.length ? unpack(bytes) : undefined }
}

/** Writes raw HTTP on one socket and collects everything until the broker closes it. */
function rawHttp(port: number, chunks: Array<string | Buffer>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    socket.on('data', (d) => {
      out += d.toString('latin1')
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(out))
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk)
    })
  })
}

function envelopeOf(raw: string): { status: number; body: any; head: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split)
  return { status: Number(head.split(' ')[1]), head, body: JSON.parse(raw.slice(split + 4)) }
}

function expectEnvelope(body: any, code: string): void {
  expect(Object.keys(body)).toEqual(['error'])
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(JSON.stringify(body)).not.toMatch(/FST_|statusCode|"cause"/)
}

describe('item 9: every error in the envelope', () => {
  it('item 9: a body over --max-request-bytes is 413 PAYLOAD_TOO_LARGE without fastify internals', async () => {
    const topic = await createTopic()
    // Raw HTTP: the broker answers from the announced length and closes, so a client still
    // uploading the whole body would see the connection break instead of the answer.
    const raw = await rawHttp(broker.port, [
      `POST /v1/topics/${topic}/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${17 * 1024 * 1024}\r\n\r\n{"records":[{"value":"`,
    ])
    const res = envelopeOf(raw)
    expect(res.status).toBe(413)
    expect(res.body).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body is larger than --max-request-bytes' },
    })
  })

  it('item 9: a URL that does not decode is 400 INVALID_REQUEST', async () => {
    const res = await json(`${broker.url}/v1/topics/%zz`, 'GET')
    expect(res.status).toBe(400)
    expectEnvelope(res.body, 'INVALID_REQUEST')
  })

  it('item 9: a path parameter over 1024 characters is 414 URI_TOO_LONG', async () => {
    const res = await json(`${broker.url}/v1/topics/${'a'.repeat(1100)}`, 'GET')
    expect(res.status).toBe(414)
    expectEnvelope(res.body, 'URI_TOO_LONG')
  })

  it("item 9: a URL over node's header limit is 414 URI_TOO_LONG, big headers 400 INVALID_REQUEST", async () => {
    const longUrl = envelopeOf(
      await rawHttp(broker.port, [`GET /v1/topics/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]),
    )
    expect(longUrl.status).toBe(414)
    expectEnvelope(longUrl.body, 'URI_TOO_LONG')
    const bigHeader = envelopeOf(
      await rawHttp(broker.port, [
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      ]),
    )
    expect(bigHeader.status).toBe(400)
    expectEnvelope(bigHeader.body, 'INVALID_REQUEST')
  })

  it('item 9: a request that is not HTTP is 400 INVALID_REQUEST', async () => {
    const res = envelopeOf(await rawHttp(broker.port, ['NOT HTTP AT ALL\r\n\r\n']))
    expect(res.status).toBe(400)
    expectEnvelope(res.body, 'INVALID_REQUEST')
  })

  it('item 9: an unknown route is 404 NOT_FOUND', async () => {
    const res = await json(`${broker.url}/v2/nothing`, 'GET')
    expect(res.status).toBe(404)
    expectEnvelope(res.body, 'NOT_FOUND')
  })

  it('item 9: a request arriving while the broker shuts down is 503 NOT_READY with Retry-After', async () => {
    const own = await startBroker()
    try {
      const topic = unique()
      expect((await json(`${own.url}/v1/topics`, 'POST', { name: topic })).status).toBe(201)
      const answered = new Promise<string>((resolve, reject) => {
        const socket = connect(own.port, '127.0.0.1')
        let out = ''
        socket.on('data', (d) => {
          out += d.toString('latin1')
        })
        socket.on('error', reject)
        socket.on('close', () => resolve(out))
        socket.on('connect', async () => {
          // A long poll keeps this connection busy, so closing the server does not reap it as idle; it
          // ends well before the shutdown's drain (2 s) cuts the connections that are still busy.
          socket.write(
            `GET /v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=1000 HTTP/1.1\r\nHost: x\r\n\r\n`,
          )
          await new Promise((r) => setTimeout(r, 200))
          process.kill(own.pid, 'SIGTERM')
          // New connections are refused once the server closes: the broker is shutting down.
          for (let i = 0; i < 100; i++) {
            const refused = await fetch(`${own.url}/healthz`).then(
              () => false,
              () => true,
            )
            if (refused) break
            await new Promise((r) => setTimeout(r, 50))
          }
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
        })
      })
      const raw = await answered
      const second = raw.slice(raw.indexOf('HTTP/1.1', 1))
      const res = envelopeOf(second)
      expect(res.status).toBe(503)
      expect(res.head.toLowerCase()).toContain('retry-after: 1')
      expectEnvelope(res.body, 'NOT_READY')
    } finally {
      await own.stop()
    }
  })
})

describe('item 10: one name limit on every route', () => {
  it('item 10: a 249-character topic can be created, produced to, fetched, looked up and deleted', async () => {
    const topic = `${unique('long')}-`.padEnd(249, 'x')
    expect(topic).toHaveLength(249)
    await createTopic(topic)
    const base = `${broker.url}/v1/topics/${topic}`
    const produced = await json(`${base}/records`, 'POST', { records: [{ value: 'a' }] })
    expect(produced.status).toBe(200)
    const toPartition = await json(`${base}/partitions/0/records`, 'POST', { records: [{ value: 'b' }] })
    expect(toPartition.status).toBe(200)
    const fetched = await json(`${base}/partitions/0/records?offset=0`, 'GET')
    expect(fetched.status).toBe(200)
    expect(fetched.body.records.map((r: { value: unknown }) => r.value)).toEqual(['a', 'b'])
    expect((await json(`${base}/partitions/0/offsets?at=latest`, 'GET')).body).toEqual({ offset: 2 })
    expect((await json(base, 'GET')).status).toBe(200)
    expect((await json(base, 'DELETE')).status).toBe(204)
    expect((await json(base, 'GET')).status).toBe(404)
  })

  it('item 10: 249-character group and exchange names work on their routes', async () => {
    const topic = await createTopic()
    const group = `${unique('g')}-`.padEnd(249, 'g')
    const joined = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', { topics: [topic] })
    expect(joined.status).toBe(200)
    const member = joined.body.memberId
    expect((await json(`${broker.url}/v1/groups/${group}/members/${member}/records`, 'GET')).status).toBe(200)
    expect((await json(`${broker.url}/v1/groups/${group}/members/${member}`, 'DELETE')).status).toBe(204)
    const exchange = `${unique('x')}-`.padEnd(249, 'x')
    expect(
      (await json(`${broker.url}/v1/exchanges`, 'POST', { name: exchange, type: 'fanout' })).status,
    ).toBe(201)
    expect((await json(`${broker.url}/v1/exchanges/${exchange}`, 'GET')).status).toBe(200)
    expect((await json(`${broker.url}/v1/exchanges/${exchange}`, 'DELETE')).status).toBe(204)
  })

  it('item 10: a 250-character or empty topic name is 400 INVALID_TOPIC_NAME on create and on every route', async () => {
    const name = 'a'.repeat(250)
    for (const bad of [name, '']) {
      const created = await json(`${broker.url}/v1/topics`, 'POST', { name: bad })
      expect(created.status, JSON.stringify(created.body)).toBe(400)
      expect(created.body.error.code).toBe('INVALID_TOPIC_NAME')
    }
    const base = `${broker.url}/v1/topics/${name}`
    const exchange = unique('x')
    expect(
      (await json(`${broker.url}/v1/exchanges`, 'POST', { name: exchange, type: 'direct' })).status,
    ).toBe(201)
    const calls: Array<[string, string, unknown?]> = [
      ['GET', base],
      ['DELETE', base],
      ['POST', `${base}/records`, { records: [{ value: 1 }] }],
      ['POST', `${base}/partitions/0/records`, { records: [{ value: 1 }] }],
      ['GET', `${base}/partitions/0/records?offset=0`],
      ['GET', `${base}/partitions/0/offsets`],
      ['POST', `${broker.url}/v1/exchanges/${exchange}/bindings`, { topic: name }],
      ['POST', `${broker.url}/v1/exchanges`, { name: unique('x'), type: 'direct', alternateTopic: name }],
      ['POST', `${broker.url}/v1/groups/${unique('g')}/members`, { topics: [name] }],
      [
        'POST',
        `${broker.url}/v1/groups/${unique('g')}/offsets`,
        { offsets: [{ topic: name, partition: 0, offset: 0 }] },
      ],
      ['POST', `${broker.url}/v1/groups/${unique('g')}/offsets/reset`, { topic: name, to: 'earliest' }],
      ['PUT', `${broker.url}/v1/groups/${unique('g')}/config`, { deadLetterTopic: name }],
      // An empty name in the path.
      ['GET', `${broker.url}/v1/topics//partitions/0/records?offset=0`],
      ['POST', `${broker.url}/v1/topics//records`, { records: [{ value: 1 }] }],
    ]
    for (const [method, url, body] of calls) {
      const res = await json(url, method, body)
      expect(res.status, `${method} ${url.slice(0, 60)} ${JSON.stringify(res.body)}`).toBe(400)
      expect(res.body.error.code, `${method} ${url.slice(0, 60)}`).toBe('INVALID_TOPIC_NAME')
    }
  })
})

describe('item 2: request bodies are not coerced', () => {
  it('item 2: producerId: null is 400, not a silent retry that stores nothing', async () => {
    const topic = await createTopic()
    for (let i = 0; i < 2; i++) {
      const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
        records: [{ value: `v${i}` }],
        producerId: null,
        sequence: null,
      })
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('INVALID_REQUEST')
      expect(res.body.error.message).toContain('producerId')
    }
    expect(await highWatermark(topic)).toBe(0)
  })

  it('item 2: a wrong type in any body is 400 INVALID_REQUEST naming the field, and writes nothing', async () => {
    const topic = await createTopic()
    const exchange = unique('x')
    expect(
      (await json(`${broker.url}/v1/exchanges`, 'POST', { name: exchange, type: 'direct' })).status,
    ).toBe(201)
    const group = unique('g')
    const joined = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', { topics: [topic] })
    expect(joined.status).toBe(200)
    const member = `${broker.url}/v1/groups/${group}/members/${joined.body.memberId}`
    const produce = `${broker.url}/v1/topics/${topic}/records`
    const cases: Array<[string, string, unknown, string]> = [
      [produce, 'POST', { records: [{ value: 1 }], acks: null }, 'acks'],
      [produce, 'POST', { records: [{ value: 1, partition: null }] }, 'partition'],
      [produce, 'POST', { records: [{ value: 1, timestamp: null }] }, 'timestamp'],
      [produce, 'POST', { records: [{ value: 1, timestamp: '5' }] }, 'timestamp'],
      [produce, 'POST', { records: [{ value: 1 }], producerId: '7', sequence: 0 }, 'producerId'],
      [
        `${broker.url}/v1/topics/${topic}/partitions/0/records`,
        'POST',
        { records: [{ value: 1 }], acks: '1' },
        'acks',
      ],
      [
        `${broker.url}/v1/exchanges/${exchange}/records`,
        'POST',
        { records: [{ routingKey: 5, value: 1 }] },
        'routingKey',
      ],
      [`${broker.url}/v1/exchanges/${exchange}/bindings`, 'POST', { topic, bindingKey: 5 }, 'bindingKey'],
      [
        `${broker.url}/v1/exchanges`,
        'POST',
        { name: unique('x'), type: 'direct', alternateTopic: 5 },
        'alternateTopic',
      ],
      [
        `${broker.url}/v1/groups/${unique('g')}/members`,
        'POST',
        { topics: [topic], sessionTimeoutMs: '6000' },
        'sessionTimeoutMs',
      ],
      [
        `${broker.url}/v1/groups/${unique('g')}/members`,
        'POST',
        { topics: [topic], autoCommit: 'true' },
        'autoCommit',
      ],
      [`${member}/heartbeat`, 'POST', { generation: '1' }, 'generation'],
      [`${member}/records`, 'POST', { maxRecords: '5' }, 'maxRecords'],
      [
        `${broker.url}/v1/groups/${group}/offsets`,
        'POST',
        { offsets: [{ topic, partition: 0, offset: '3' }] },
        'offset',
      ],
      [`${broker.url}/v1/groups/${unique('g')}/offsets/reset`, 'POST', { topic, to: null }, 'to'],
      [`${broker.url}/v1/groups/${group}/config`, 'PUT', { maxDeliveries: '3' }, 'maxDeliveries'],
      [`${broker.url}/v1/topics`, 'POST', { name: unique(), partitions: '3' }, 'partitions'],
    ]
    for (const [url, method, body, field] of cases) {
      const res = await json(url, method, body)
      const what = `${method} ${url.replace(broker.url, '')} ${JSON.stringify(body)}`
      expect(res.status, `${what} → ${JSON.stringify(res.body)}`).toBe(400)
      expect(res.body.error.code, what).toBe('INVALID_REQUEST')
      expect(res.body.error.message, what).toContain(field)
    }
    expect(await highWatermark(topic)).toBe(0)
    const offsets = await json(`${broker.url}/v1/groups/${group}/offsets`, 'GET')
    expect(
      offsets.body.offsets.every((o: { committed: unknown }) => o.committed === null || o.committed === 0),
    ).toBe(true)
  })

  it('item 2: query strings are still read as numbers', async () => {
    const topic = await createTopic()
    expect(
      (await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records: [{ value: 1 }] })).status,
    ).toBe(200)
    const res = await json(
      `${broker.url}/v1/topics/${topic}/partitions/0/records?offset=0&maxRecords=1`,
      'GET',
    )
    expect(res.status).toBe(200)
    expect(res.body.records).toHaveLength(1)
  })
})

describe('item 3: internal topics are closed to clients', () => {
  const internal = '__consumer_offsets'

  it('item 3: produce, fetch, offset lookups, delete and routing to __* topics are 403 FORBIDDEN', async () => {
    const base = `${broker.url}/v1/topics/${internal}`
    const hwBefore = await highWatermark(internal)
    const topic = await createTopic()
    const exchange = unique('x')
    expect(
      (await json(`${broker.url}/v1/exchanges`, 'POST', { name: exchange, type: 'direct' })).status,
    ).toBe(201)
    const calls: Array<[string, string, unknown?]> = [
      ['POST', `${base}/records`, { records: [{ key: 'g', value: { offsets: [] } }] }],
      ['POST', `${base}/partitions/0/records`, { records: [{ value: 1 }], acks: 0 }],
      ['GET', `${base}/partitions/0/records?offset=0`],
      ['GET', `${base}/partitions/0/offsets?at=latest`],
      ['DELETE', base],
      ['POST', `${broker.url}/v1/exchanges/${exchange}/bindings`, { topic: internal }],
      ['POST', `${broker.url}/v1/exchanges`, { name: unique('x'), type: 'direct', alternateTopic: internal }],
      ['POST', `${broker.url}/v1/groups/${unique('g')}/members`, { topics: [topic, internal] }],
      [
        'POST',
        `${broker.url}/v1/groups/${unique('g')}/offsets`,
        { offsets: [{ topic: internal, partition: 0, offset: 0 }] },
      ],
      ['POST', `${broker.url}/v1/groups/${unique('g')}/offsets/reset`, { topic: internal, to: 'earliest' }],
      ['PUT', `${broker.url}/v1/groups/${unique('g')}/config`, { deadLetterTopic: internal }],
    ]
    for (const [method, url, body] of calls) {
      const res = await json(url, method, body)
      const what = `${method} ${url.replace(broker.url, '')}`
      expect(res.status, `${what} ${JSON.stringify(res.body)}`).toBe(403)
      expect(res.body.error.code, what).toBe('FORBIDDEN')
      expect(res.body.error.message, what).toContain('internal topic')
    }
    expect(await highWatermark(internal)).toBe(hwBefore)
    // Describing stays open; listing hides internal topics.
    expect((await json(base, 'GET')).status).toBe(200)
    const listed = await json(`${broker.url}/v1/topics`, 'GET')
    expect(listed.body.topics.map((t: { name: string }) => t.name)).not.toContain(internal)
  })

  it("item 3: the broker's own offset commits still work and survive a restart", async () => {
    const own = await startBroker()
    try {
      const topic = unique()
      expect((await json(`${own.url}/v1/topics`, 'POST', { name: topic })).status).toBe(201)
      const group = unique('g')
      const commit = await json(`${own.url}/v1/groups/${group}/offsets`, 'POST', {
        offsets: [{ topic, partition: 0, offset: 0 }],
      })
      expect(commit.status).toBe(204)
      const forged = await json(`${own.url}/v1/topics/${internal}/records`, 'POST', {
        records: [{ key: group, value: { topic, partition: 0, offset: 999 } }],
      })
      expect(forged.status).toBe(403)
      const restarted = await own.restart()
      try {
        const offsets = await json(`${restarted.url}/v1/groups/${group}/offsets`, 'GET')
        expect(offsets.status).toBe(200)
        expect(offsets.body.offsets).toEqual([{ topic, partition: 0, committed: 0, logEndOffset: 0, lag: 0 }])
      } finally {
        await restarted.stop()
      }
    } finally {
      await own.stop()
    }
  })
})

/** `{records: [{value: <raw>}]}` with the value's bytes spliced in as they are. */
function produceBodyWithRawValue(raw: Buffer): Buffer {
  const head = Buffer.from([0x81, 0xa7, ...Buffer.from('records'), 0x91, 0x81, 0xa5, ...Buffer.from('value')])
  return Buffer.concat([head, raw])
}

function ext32(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(6)
  head[0] = 0xc9
  head.writeUInt32BE(data.length, 1)
  head[5] = type
  return Buffer.concat([head, data])
}

describe('item 6: costly values are refused cheaply', () => {
  it('item 6: a 15 MB BigInt extension (0x42) is 400 while /healthz keeps answering', async () => {
    const topic = await createTopic()
    const body = produceBodyWithRawValue(ext32(0x42, Buffer.alloc(15 * 1024 * 1024, 0x7f)))
    let attacking = true
    const attacks = Promise.all(
      [0, 1].map(() => postMsgpack(`${broker.url}/v1/topics/${topic}/records`, body)),
    ).finally(() => {
      attacking = false
    })
    let probes = 0
    while (attacking && probes < 50) {
      const res = await fetch(`${broker.url}/healthz`, { signal: AbortSignal.timeout(10_000) })
      expect(res.status).toBe(200)
      probes++
      await new Promise((r) => setTimeout(r, 20))
    }
    for (const res of await attacks) {
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('INVALID_REQUEST')
      expect(res.body.error.message).toContain('extension type 66')
    }
    expect(await highWatermark(topic)).toBe(0)
  })

  it.each([
    ['Set (0x73)', Buffer.from([0xd4, 0x73, 0x90])],
    ['RegExp (0x78)', Buffer.from([0xd4, 0x78, 0x00])],
    ['Error (0x65)', Buffer.from([0xd4, 0x65, 0x00])],
    ['typed array (0x74)', Buffer.from([0xd5, 0x74, 0x01, 0x02])],
    ['type 0 with two bytes (only d4 00 00 is undefined)', Buffer.from([0xd5, 0x00, 0x01, 0x02])],
    ['record definition (0x72)', Buffer.from([0xd4, 0x72, 0x40])],
    ['an unknown type (0x10)', Buffer.from([0xd6, 0x10, 1, 2, 3, 4])],
    ['a small BigInt (0x42)', Buffer.from([0xd7, 0x42, 0, 0, 0, 0, 0, 0, 0, 1])],
  ])('item 6: the extension %s is 400 INVALID_REQUEST, never 5xx', async (_what, raw) => {
    const topic = await createTopic()
    const res = await postMsgpack(`${broker.url}/v1/topics/${topic}/records`, produceBodyWithRawValue(raw))
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('INVALID_REQUEST')
    expect(res.body.error.message).toMatch(/extension type/)
    expect(await highWatermark(topic)).toBe(0)
  })
})

describe('item 4: MessagePack values come back exactly as sent, or are refused', () => {
  const plainPackr = new Packr({ useRecords: false })

  async function produceRaw(raw: Buffer): Promise<{ topic: string; status: number; body: any }> {
    const topic = await createTopic()
    const res = await postMsgpack(`${broker.url}/v1/topics/${topic}/records`, produceBodyWithRawValue(raw))
    return { topic, ...res }
  }

  async function fetchValue(topic: string): Promise<unknown> {
    const res = await mp(`${broker.url}/v1/topics/${topic}/partitions/0/records?offset=0`, 'GET')
    expect(res.status).toBe(200)
    expect(res.body.records).toHaveLength(1)
    return res.body.records[0].value
  }

  it('item 4: integer map keys are refused (they would come back as strings)', async () => {
    const res = await produceRaw(plainPackr.pack(new Map([[1, 'one']])))
    expect(res.status).toBe(400)
    expect(res.body.error.message).toContain('map keys must be strings')
    expect(await highWatermark(res.topic)).toBe(0)
  })

  it('item 4: a __proto__ map key is refused (it would be renamed)', async () => {
    const raw = Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x01])
    const res = await produceRaw(raw)
    expect(res.status).toBe(400)
    expect(res.body.error.message).toContain('__proto__')
    expect(await highWatermark(res.topic)).toBe(0)
  })

  it('item 4: a timestamp with sub-millisecond nanoseconds is refused (it would be cut)', async () => {
    // timestamp 64: 30 bits of nanoseconds (1), 34 bits of seconds (1_700_000_000).
    const data = Buffer.alloc(8)
    data.writeUInt32BE((1 << 2) | 0, 0)
    data.writeUInt32BE(1_700_000_000, 4)
    const res = await produceRaw(Buffer.concat([Buffer.from([0xd7, 0xff]), data]))
    expect(res.status).toBe(400)
    expect(res.body.error.message).toContain('sub-millisecond')
    expect(await highWatermark(res.topic)).toBe(0)
  })

  it('item 4: a timestamp in the year 2^62 is refused (it would come back as 1970)', async () => {
    const data = Buffer.alloc(12)
    data.writeBigInt64BE(2n ** 62n, 4)
    const res = await produceRaw(Buffer.concat([Buffer.from([0xc7, 12, 0xff]), data]))
    expect(res.status).toBe(400)
    expect(res.body.error.message).toContain('outside the range')
    expect(await highWatermark(res.topic)).toBe(0)
  })

  it('item 4: millisecond timestamps and plain values come back with the very bytes sent', async () => {
    const at = new Date(1_700_000_000_123)
    const value = {
      at,
      bytes: Buffer.from([0, 1, 2, 255]),
      big: 2n ** 60n,
      negative: -123456789,
      float: 1.5,
      nested: [{ a: 'x', b: [null, true, false] }],
      text: 'ünïcode',
      unset: undefined,
    }
    const sent = new Packr({ useRecords: false, useFloat32: 0 }).pack(value)
    const res = await produceRaw(sent)
    expect(res.status).toBe(200)
    const got = await fetch(`${broker.url}/v1/topics/${res.topic}/partitions/0/records?offset=0`, {
      headers: { accept: 'application/vnd.msgpack' },
    })
    const bytes = Buffer.from(await got.arrayBuffer())
    expect(bytes.includes(sent)).toBe(true)
    expect(await fetchValue(res.topic)).toEqual(value)
  })
})
