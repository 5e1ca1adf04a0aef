/**
 * The HTTP contract of docs/http-api.md ("Topics", "Produce", "Fetch"), against a real broker
 * process on a loopback port: every route in JSON and MessagePack, the error envelope and codes, long polls,
 * limits, and the rule that a failed request writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp, pack, unpack } from '../helpers/http.js'

let broker: BrokerProcess
let n = 0
const uniqueTopic = (prefix = 't') => `${prefix}-${process.pid}-${++n}`

beforeAll(async () => {
  broker = await startBroker({ args: ['--max-request-bytes', '262144', '--max-record-bytes', '65536'] })
})
afterAll(async () => {
  await broker?.stop()
})

async function createTopic(partitions = 1): Promise<string> {
  const name = uniqueTopic()
  const res = await json(`${broker.url}/v1/topics`, 'POST', { name, partitions })
  expect(res.status).toBe(201)
  return name
}

const recordsUrl = (topic: string, p = 0, query = 'offset=0') =>
  `${broker.url}/v1/topics/${topic}/partitions/${p}/records?${query}`

describe('health', () => {
  it('answers /healthz and /readyz once recovered', async () => {
    expect((await json(`${broker.url}/healthz`, 'GET')).status).toBe(200)
    const ready = await json(`${broker.url}/readyz`, 'GET')
    expect(ready.status).toBe(200)
    expect(ready.body.status).toBe('ready')
  })
})

describe('console', () => {
  it('serves the web console page and redirects / to it', async () => {
    const page = await fetch(`${broker.url}/console`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain('<title>Strata console</title>')
    const root = await fetch(`${broker.url}/`, { redirect: 'manual' })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/console')
  })
})

describe('topics', () => {
  it('creates, lists, describes and deletes, in JSON', async () => {
    const name = uniqueTopic()
    const created = await json(`${broker.url}/v1/topics`, 'POST', {
      name,
      partitions: 3,
      config: { retentionMs: 60000 },
    })
    expect(created.status).toBe(201)
    expect(created.body.name).toBe(name)
    expect(created.body.partitions).toHaveLength(3)
    expect(created.body.partitions[2]).toEqual({
      partition: 2,
      leader: 0,
      replicas: [0],
      isr: [0],
      logStartOffset: 0,
      logEndOffset: 0,
      highWatermark: 0,
    })
    expect(created.body.config).toEqual({ retentionMs: 60000 })
    const list = await json(`${broker.url}/v1/topics`, 'GET')
    expect(list.body.topics.map((t: { name: string }) => t.name)).toContain(name)
    expect((await json(`${broker.url}/v1/topics/${name}`, 'GET')).body.replicationFactor).toBe(1)
    expect((await json(`${broker.url}/v1/topics/${name}`, 'DELETE')).status).toBe(204)
    const gone = await json(`${broker.url}/v1/topics/${name}`, 'GET')
    expect(gone.status).toBe(404)
    expect(gone.body.error.code).toBe('TOPIC_NOT_FOUND')
  })

  it('creates in MessagePack and answers in MessagePack', async () => {
    const name = uniqueTopic()
    const res = await mp(`${broker.url}/v1/topics`, 'POST', { name })
    expect(res.status).toBe(201)
    expect(res.headers.get('content-type')).toContain('application/vnd.msgpack')
    expect(res.body.partitions).toHaveLength(1)
  })

  it('refuses a duplicate with 409 TOPIC_EXISTS', async () => {
    const name = await createTopic()
    const res = await json(`${broker.url}/v1/topics`, 'POST', { name })
    expect(res.status).toBe(409)
    expect(res.body.error.code).toBe('TOPIC_EXISTS')
  })

  it.each(['.', '..', 'a/b', '../escape', 'x'.repeat(250), 'sp ace', '__internal', 'ünï'])(
    'refuses the name %j with INVALID_TOPIC_NAME',
    async (name) => {
      const res = await json(`${broker.url}/v1/topics`, 'POST', { name })
      expect(res.status).toBe(400)
      expect(['INVALID_TOPIC_NAME', 'INVALID_REQUEST']).toContain(res.body.error.code)
      if (name.length <= 249) expect(res.body.error.code).toBe('INVALID_TOPIC_NAME')
    },
  )

  it("refuses to delete an internal topic (every group's committed offsets live there)", async () => {
    const res = await json(`${broker.url}/v1/topics/__consumer_offsets`, 'DELETE')
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('FORBIDDEN')
  })

  it('validates the body: bad partitions, unknown fields', async () => {
    const bad = await json(`${broker.url}/v1/topics`, 'POST', { name: uniqueTopic(), partitions: 0 })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('INVALID_REQUEST')
    expect(bad.body.error.message).toMatch(/partitions/)
    const extra = await json(`${broker.url}/v1/topics`, 'POST', { name: uniqueTopic(), partition: 2 })
    expect(extra.status).toBe(400)
    expect(extra.body.error.message).toMatch(/partition/)
  })

  it('answers unknown routes with the envelope', async () => {
    const res = await json(`${broker.url}/v1/nothing-here`, 'GET')
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('NOT_FOUND')
  })
})

describe('produce and fetch', () => {
  it('confirms offsets in request order and returns exact records in JSON', async () => {
    const topic = await createTopic()
    const records = [
      { key: 'k1', value: { n: 1, s: 'one' }, headers: { h: 'x' }, timestamp: 1_700_000_000_000 },
      { value: 'plain' },
      { key: { $base64: Buffer.from([0, 1, 2]).toString('base64') }, value: { $base64: 'AAEC/w==' } },
    ]
    const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      offsets: [
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
        { partition: 0, offset: 2 },
      ],
      durability: 'fsynced',
    })
    const fetched = await json(recordsUrl(topic), 'GET')
    expect(fetched.status).toBe(200)
    expect(fetched.body.nextOffset).toBe(3)
    expect(fetched.body.highWatermark).toBe(3)
    expect(fetched.body.logStartOffset).toBe(0)
    const [a, b, c] = fetched.body.records
    expect(a).toEqual({
      offset: 0,
      timestamp: 1_700_000_000_000,
      key: 'k1',
      value: { n: 1, s: 'one' },
      headers: { h: 'x' },
    })
    expect(b.offset).toBe(1)
    expect(b.key).toBeNull()
    expect(b.value).toBe('plain')
    expect(b.headers).toEqual({})
    expect(typeof b.timestamp).toBe('number')
    expect(c.key).toEqual({ $base64: 'AAEC' })
    expect(c.value).toEqual({ $base64: 'AAEC/w==' })
  })

  it('round-trips MessagePack types exactly', async () => {
    const topic = await createTopic()
    const value = {
      bin: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      str: 'héllo',
      int: -42,
      big: 2 ** 40,
      float: 1.25,
      nested: { a: [1, 'two', null, true, { b: false }] },
    }
    const sent = await mp(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ key: Buffer.from('bytes-key'), value, headers: { trace: Buffer.from([7]), s: 'v' } }],
    })
    expect(sent.status).toBe(200)
    const got = await mp(recordsUrl(topic), 'GET')
    expect(got.headers.get('content-type')).toContain('application/vnd.msgpack')
    const rec = got.body.records[0]
    expect(Buffer.isBuffer(rec.key) || rec.key instanceof Uint8Array).toBe(true)
    expect(Buffer.from(rec.key).toString()).toBe('bytes-key')
    expect(Buffer.from(rec.value.bin)).toEqual(value.bin)
    expect({ ...rec.value, bin: undefined }).toEqual({ ...value, bin: undefined })
    expect(Buffer.from(rec.headers.trace)).toEqual(Buffer.from([7]))
    expect(rec.headers.s).toBe('v')
  })

  it('honours the partition route, explicit partitions and stable key hashing', async () => {
    const topic = await createTopic(4)
    const direct = await json(`${broker.url}/v1/topics/${topic}/partitions/2/records`, 'POST', {
      records: [{ value: 1 }, { value: 2 }],
    })
    expect(direct.body.offsets).toEqual([
      { partition: 2, offset: 0 },
      { partition: 2, offset: 1 },
    ])
    const explicit = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 3, partition: 3 }],
    })
    expect(explicit.body.offsets).toEqual([{ partition: 3, offset: 0 }])
    const keyed = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [
        { key: 'user-17', value: 'a' },
        { key: 'user-17', value: 'b' },
      ],
    })
    const again = await mp(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ key: 'user-17', value: 'c' }],
    })
    const p = keyed.body.offsets[0].partition
    expect(keyed.body.offsets[1].partition).toBe(p)
    expect(again.body.offsets[0].partition).toBe(p)
    const missing = await json(`${broker.url}/v1/topics/${topic}/partitions/4/records`, 'POST', {
      records: [{ value: 1 }],
    })
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('PARTITION_NOT_FOUND')
  })

  it('spreads keyless requests over partitions', async () => {
    const topic = await createTopic(3)
    const seen = new Set<number>()
    for (let i = 0; i < 6; i++) {
      const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
        records: [{ value: i }, { value: i }],
      })
      expect(res.body.offsets[0].partition).toBe(res.body.offsets[1].partition)
      seen.add(res.body.offsets[0].partition)
    }
    expect(seen.size).toBe(3)
  })

  it('answers 404 for unknown topics on produce and fetch', async () => {
    const p = await json(`${broker.url}/v1/topics/nope-${process.pid}/records`, 'POST', {
      records: [{ value: 1 }],
    })
    expect(p.status).toBe(404)
    expect(p.body.error.code).toBe('TOPIC_NOT_FOUND')
    const f = await json(`${broker.url}/v1/topics/nope-${process.pid}/partitions/0/records?offset=0`, 'GET')
    expect(f.body.error.code).toBe('TOPIC_NOT_FOUND')
  })

  it('limits fetches by maxRecords and maxBytes and reports OFFSET_OUT_OF_RANGE with both bounds', async () => {
    const topic = await createTopic()
    const records = Array.from({ length: 10 }, (_, i) => ({ value: 'x'.repeat(100) + i }))
    await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records })
    const limited = await json(recordsUrl(topic, 0, 'offset=3&maxRecords=4'), 'GET')
    expect(limited.body.records.map((r: { offset: number }) => r.offset)).toEqual([3, 4, 5, 6])
    expect(limited.body.nextOffset).toBe(7)
    const bytes = await json(recordsUrl(topic, 0, 'offset=0&maxBytes=250'), 'GET')
    expect(bytes.body.records.length).toBeGreaterThanOrEqual(1)
    expect(bytes.body.records.length).toBeLessThan(3)
    const atEnd = await json(recordsUrl(topic, 0, 'offset=10'), 'GET')
    expect(atEnd.body.records).toEqual([])
    expect(atEnd.body.nextOffset).toBe(10)
    const past = await json(recordsUrl(topic, 0, 'offset=11'), 'GET')
    expect(past.status).toBe(416)
    expect(past.body.error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect(past.body.error.details).toMatchObject({ logStartOffset: 0, logEndOffset: 10 })
    const badQuery = await json(recordsUrl(topic, 0, 'offset=-1'), 'GET')
    expect(badQuery.status).toBe(400)
    expect(badQuery.body.error.code).toBe('INVALID_REQUEST')
  })

  it('long-polls: returns as soon as a record arrives, or empty after maxWaitMs', async () => {
    const topic = await createTopic()
    const started = Date.now()
    const waiting = json(recordsUrl(topic, 0, 'offset=0&maxWaitMs=20000'), 'GET')
    await new Promise((r) => setTimeout(r, 200))
    await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records: [{ value: 'wake' }] })
    const woke = await waiting
    expect(woke.body.records.map((r: { value: string }) => r.value)).toEqual(['wake'])
    expect(Date.now() - started).toBeLessThan(15_000)
    const t0 = Date.now()
    const empty = await json(recordsUrl(topic, 0, 'offset=1&maxWaitMs=300'), 'GET')
    expect(empty.body.records).toEqual([])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
  })

  it('looks offsets up by earliest, latest and timestamp', async () => {
    const topic = await createTopic()
    await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [
        { value: 'a', timestamp: 1000 },
        { value: 'b', timestamp: 2000 },
      ],
    })
    await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 'c', timestamp: 3000 }],
    })
    const at = async (q: string) =>
      (await json(`${broker.url}/v1/topics/${topic}/partitions/0/offsets?at=${q}`, 'GET')).body.offset
    expect(await at('earliest')).toBe(0)
    expect(await at('latest')).toBe(3)
    expect(await at('1500')).toBe(1)
    expect(await at('2000')).toBe(1)
    expect(await at('2500')).toBe(2)
    expect(await at('99999')).toBe(3)
  })

  it('acks=0 answers 202 and the record still lands; acks=1 reports its receipt', async () => {
    const topic = await createTopic()
    const zero = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 0 }],
      acks: 0,
    })
    expect(zero.status).toBe(202)
    expect(zero.body.durability).toBe('none')
    const one = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 1 }],
      acks: 1,
    })
    expect(one.status).toBe(200)
    expect(['written', 'fsynced']).toContain(one.body.durability)
    const fetched = await json(recordsUrl(topic, 0, 'offset=0&maxWaitMs=2000&maxRecords=10'), 'GET')
    expect(fetched.body.records.length).toBeGreaterThanOrEqual(1)
  })

  it('makes retries idempotent with producerId + sequence', async () => {
    const topic = await createTopic()
    const body = { records: [{ value: 'a' }, { value: 'b' }], producerId: 12345, sequence: 0 }
    const first = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', body)
    const retry = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', body)
    expect(retry.status).toBe(200)
    expect(retry.body.offsets).toEqual(first.body.offsets)
    const next = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { ...body, sequence: 2 })
    expect(next.body.offsets).toEqual([
      { partition: 0, offset: 2 },
      { partition: 0, offset: 3 },
    ])
    const latest = await json(`${broker.url}/v1/topics/${topic}/partitions/0/offsets?at=latest`, 'GET')
    expect(latest.body.offset).toBe(4)
    const half = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 1 }],
      producerId: 1,
    })
    expect(half.status).toBe(400)
  })
})

describe('idempotent keyless retries', () => {
  it('land on the partition of the original and are stored once', async () => {
    const topic = await createTopic(8)
    const body = { records: [{ value: 'x' }, { value: 'y' }], producerId: 777, sequence: 40 }
    const first = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', body)
    // Other keyless requests in between move the round-robin on; the retry must not follow it.
    for (let i = 0; i < 3; i++)
      await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records: [{ value: i }] })
    const retry = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', body)
    expect(retry.body.offsets).toEqual(first.body.offsets)
    const total = await Promise.all(
      Array.from({ length: 8 }, (_, p) =>
        json(`${broker.url}/v1/topics/${topic}/partitions/${p}/offsets?at=latest`, 'GET').then(
          (r) => r.body.offset,
        ),
      ),
    )
    expect(total.reduce((a: number, b: number) => a + b, 0)).toBe(5)
  })
})

describe('bad input writes nothing', () => {
  const latest = async (topic: string) =>
    (await json(`${broker.url}/v1/topics/${topic}/partitions/0/offsets?at=latest`, 'GET')).body.offset

  it('refuses a request with one invalid record and writes none of it', async () => {
    const topic = await createTopic()
    const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 'ok' }, { value: 'ok', headers: { h: 5 } }],
    })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('INVALID_REQUEST')
    expect(res.body.error.message).toMatch(/headers/)
    const noValue = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 1 }, { key: 'k' }],
    })
    expect(noValue.status).toBe(400)
    const badAcks = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 1 }],
      acks: 2,
    })
    expect(badAcks.status).toBe(400)
    const empty = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', { records: [] })
    expect(empty.status).toBe(400)
    expect(await latest(topic)).toBe(0)
  })

  it('answers 413 PAYLOAD_TOO_LARGE for a big body or a big record', async () => {
    const topic = await createTopic()
    const big = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 'x'.repeat(300_000) }],
    })
    expect(big.status).toBe(413)
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE')
    const bigRecord = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 'small' }, { value: 'y'.repeat(70_000) }],
    })
    expect(bigRecord.status).toBe(413)
    expect(bigRecord.body.error.details.index).toBe(1)
    expect(await latest(topic)).toBe(0)
  })

  it('answers 400 for malformed, truncated, trailing and deeply nested MessagePack and keeps serving', async () => {
    const topic = await createTopic()
    const url = `${broker.url}/v1/topics/${topic}/records`
    const send = (body: Buffer) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/vnd.msgpack' }, body })
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])])
    for (const body of [
      Buffer.from([0xc1]),
      Buffer.from([0x92, 0xc0]),
      Buffer.concat([pack({ records: [] }), Buffer.from([0xc0])]),
      deep,
    ]) {
      const res = await send(body)
      expect(res.status).toBe(400)
      // No Accept header: the error answers in the request's type, MessagePack.
      expect(res.headers.get('content-type')).toContain('application/vnd.msgpack')
      const parsed = unpack(Buffer.from(await res.arrayBuffer())) as { error: { code: string } }
      expect(parsed.error.code).toBe('INVALID_REQUEST')
    }
    // Unknown extension types are refused rather than stored in a shape no reader can decode.
    const ext = await send(
      Buffer.concat([
        Buffer.from([0x81, 0xa7]),
        Buffer.from('records'),
        Buffer.from([0x91, 0x81, 0xa5]),
        Buffer.from('value'),
        Buffer.from([0xd4, 0x05, 0x01]),
      ]),
    )
    expect(ext.status).toBe(400)
    expect((await json(`${broker.url}/healthz`, 'GET')).status).toBe(200)
    expect(await latest(topic)).toBe(0)
  })

  it('refuses a request whose batch for one partition cannot fit a segment, writing no partition', async () => {
    const name = uniqueTopic()
    await json(`${broker.url}/v1/topics`, 'POST', { name, partitions: 2, config: { segmentBytes: 4096 } })
    const res = await json(`${broker.url}/v1/topics/${name}/records`, 'POST', {
      records: [
        { value: 'small', partition: 0 },
        ...Array.from({ length: 5 }, () => ({ value: 'z'.repeat(1000), partition: 1 })),
      ],
    })
    expect(res.status).toBe(413)
    expect(res.body.error.details.segmentBytes).toBe(4096)
    for (const p of [0, 1]) {
      const latest = await json(`${broker.url}/v1/topics/${name}/partitions/${p}/offsets?at=latest`, 'GET')
      expect(latest.body.offset).toBe(0)
    }
  })

  it('refuses a sequence that would overflow int32 with 400, not 500', async () => {
    const topic = await createTopic()
    const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [{ value: 1 }, { value: 2 }],
      producerId: 5,
      sequence: 2 ** 31 - 2,
    })
    expect(res.status).toBe(400)
    expect(res.body.error.details.field).toBe('sequence')
    expect(await latest(topic)).toBe(0)
  })

  it('answers 415 for an unsupported content type', async () => {
    const topic = await createTopic()
    const res = await fetch(`${broker.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(res.status).toBe(415)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
  })
})
