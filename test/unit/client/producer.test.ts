/**
 * Producer contract against a fake broker on a real socket: concurrent sends are packed into
 * fewer requests (counted at the broker), a request whose answer is lost after the write is
 * resent with the same producerId + sequence and so written once, offsets come back in send
 * order, and the sequence moves by the record count of each request.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { partitionForKey } from '../../../src/broker/partition-placement.js'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Producer } from '../../../src/client/producer.js'
import { TopicNotFoundError } from '../../../src/errors.js'
import { wirePackr } from '../../../src/wire/record-codec.js'
import { cutAfterWrite, FakeBroker, fail } from './fake-broker.js'

const PRODUCE = /^\/v1\/topics\/[^/]+(\/partitions\/\d+)?\/records$/

let broker: FakeBroker
let client: BrokerClient

beforeEach(async () => {
  broker = new FakeBroker()
  await broker.start()
  client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 5, maxDelayMs: 20 } })
})

afterEach(async () => {
  await client.close()
  await broker.stop()
})

/** After one warm-up record (-1): `count` one-record sends of 0…count−1 land once, in order. */
async function expectNumberedSendsInOrder(producer: Producer, count: number): Promise<void> {
  const sends = Array.from({ length: count }, (_, i) => producer.send('t', { value: i, partition: 0 }))
  const offsets = (await Promise.all(sends)).map((r) => r[0]?.offset)
  expect(offsets).toEqual(Array.from({ length: count }, (_, i) => i + 1))
  expect(broker.topics.get('t')?.[0]?.map((r) => r.value)).toEqual([
    -1,
    ...Array.from({ length: count }, (_, i) => i),
  ])
}

describe('batching', () => {
  test('N concurrent sends with lingerMs go out as one request', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { lingerMs: 20 })
    const sends = Array.from({ length: 100 }, (_, i) => producer.send('t', { key: `k${i}`, value: i }))
    const results = await Promise.all(sends)
    expect(broker.count('POST', PRODUCE)).toBe(1)
    expect(results.map((r) => r[0]?.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(broker.topics.get('t')?.[0]?.map((r) => r.value)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  test('by default (no linger) sends made while a request is in flight share the next request', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client)
    await producer.send('t', { value: -1, partition: 0 })
    const sends = Array.from({ length: 50 }, (_, i) => producer.send('t', { value: i, partition: 0 }))
    await Promise.all(sends)
    // After the first request, the next send goes alone; the 49 that queued behind it go together.
    expect(broker.count('POST', PRODUCE)).toBe(3)
  })

  test('up to maxInFlight requests of a topic are in flight at once; records land in send order', async () => {
    broker.createTopic('t', 1)
    // Behind a request in flight only a full batch goes out, so make every send a full batch.
    const producer = new Producer(client, { maxInFlight: 3, maxBatchRecords: 1 })
    await producer.send('t', { value: -1, partition: 0 })
    // The next three produce requests are held until all three have arrived (or 5 s passed).
    let arrived = 0
    let allArrived: () => void = () => undefined
    const together = new Promise<boolean>((resolve) => {
      allArrived = () => resolve(true)
      setTimeout(() => resolve(false), 5_000).unref()
    })
    const hold = async () => {
      if (++arrived === 3) allArrived()
      await together
      return false
    }
    for (let i = 0; i < 3; i++) broker.inject('POST', PRODUCE, hold)
    await expectNumberedSendsInOrder(producer, 30)
    expect(await together).toBe(true)
    const sequences = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => r.body.sequence)
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b))
  })

  test('maxBatchRecords splits a burst into several requests, never splitting one send', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { lingerMs: 10, maxBatchRecords: 10 })
    const sends = Array.from({ length: 12 }, (_, i) =>
      producer.send('t', [
        { value: `${i}a`, partition: 0 },
        { value: `${i}b`, partition: 0 },
        { value: `${i}c`, partition: 0 },
      ]),
    )
    const results = await Promise.all(sends)
    const requests = broker.requests.filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
    // 36 records, at most 3 whole sends (9 records) per request.
    expect(requests.length).toBe(4)
    for (const r of requests) expect(r.body.records.length).toBeLessThanOrEqual(10)
    expect(results.flat().map((o) => o.offset)).toEqual(Array.from({ length: 36 }, (_, i) => i))
  })

  test('maxBatchBytes bounds a request by estimated size', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { lingerMs: 10, maxBatchBytes: 4096 })
    const value = 'x'.repeat(1000)
    await Promise.all(Array.from({ length: 10 }, () => producer.send('t', { value, partition: 0 })))
    expect(broker.count('POST', PRODUCE)).toBeGreaterThan(1)
    expect(broker.topics.get('t')?.[0]?.length).toBe(10)
  })

  test('flush() sends at once instead of waiting for the linger', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { lingerMs: 60_000 })
    const sent = producer.send('t', { value: 'now', partition: 0 })
    await producer.flush()
    await expect(sent).resolves.toEqual([{ partition: 0, offset: 0 }])
  })
})

describe('idempotence', () => {
  test('a write whose answer is cut off is retried with the same producerId and sequence and lands once', async () => {
    broker.createTopic('t', 1)
    broker.inject('POST', PRODUCE, cutAfterWrite)
    const producer = new Producer(client)
    const offsets = await producer.send('t', [{ value: 'a' }, { value: 'b' }])
    const requests = broker.requests.filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
    expect(requests.length).toBe(2)
    expect(requests[1]?.body.producerId).toBe(requests[0]?.body.producerId)
    expect(requests[1]?.body.sequence).toBe(requests[0]?.body.sequence)
    expect(broker.topics.get('t')?.[0]?.map((r) => r.value)).toEqual(['a', 'b'])
    expect(offsets).toEqual([
      { partition: 0, offset: 0 },
      { partition: 0, offset: 1 },
    ])
  })

  test('a pipelined write cut off after the write is resent after the others are answered; each lands once, in order', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { maxBatchRecords: 5 })
    await producer.send('t', { value: -1, partition: 0 })
    broker.inject('POST', PRODUCE, cutAfterWrite)
    await expectNumberedSendsInOrder(producer, 20)
    const bodies = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => r.body)
    // The cut request (the first after the warm-up) went out again with its producer id and sequence.
    const cut = bodies[1]
    expect(bodies.filter((b) => b.sequence === cut.sequence && b.producerId === cut.producerId)).toHaveLength(
      2,
    )
  })

  test('with retry maxAttempts 1, a pipelined request that failed is not sent again, and the later ones of its partition are not written ahead of it', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { maxBatchRecords: 1, retry: { maxAttempts: 1 } })
    await producer.send('t', { value: -1, partition: 0 })
    broker.inject('POST', PRODUCE, (_req, reply) => {
      fail(reply, 503, 'NOT_READY', 'recovering')
      return true
    })
    const sends = [0, 1, 2].map((value) => producer.send('t', { value, partition: 0 }))
    const outcomes = await Promise.allSettled(sends)
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'NOT_READY' } })
    expect(outcomes.slice(1)).toMatchObject([
      { status: 'rejected', reason: { code: 'OUT_OF_ORDER_SEQUENCE' } },
      { status: 'rejected', reason: { code: 'OUT_OF_ORDER_SEQUENCE' } },
    ])
    expect(broker.count('POST', PRODUCE)).toBe(4)
    // The stream goes on under a new producer id, from sequence 0.
    await expect(producer.send('t', { value: 3, partition: 0 })).resolves.toEqual([
      { partition: 0, offset: 1 },
    ])
    expect(broker.topics.get('t')?.[0]?.map((r) => r.value)).toEqual([-1, 3])
  })

  test('pipelined, a request refused with THROTTLED while a later one of its partition arrives: the later one is refused as out of order, both are resent in order, every send lands once', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { maxBatchRecords: 2 })
    await producer.send('t', { value: -1, partition: 0 })
    const pass = () => false
    broker.inject('POST', PRODUCE, pass)
    broker.inject('POST', PRODUCE, (_req, reply) => {
      reply.header('retry-after', '0')
      fail(reply, 429, 'THROTTLED', 'slow down')
      return true
    })
    await expectNumberedSendsInOrder(producer, 8)
    const answered = broker.requests.filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
    // The warm-up; the first send alone (written); behind it three full batches (sequence 2
    // throttled, 4 and 6 refused as out of order); 2, 4 and 6 again, in order, with their producer
    // id and sequence; then the last send.
    expect(answered.map((r) => r.body.sequence)).toEqual([0, 1, 2, 4, 6, 2, 4, 6, 8])
    expect(answered.map((r) => r.body.records.length)).toEqual([1, 1, 2, 2, 2, 2, 2, 2, 1])
    expect(new Set(answered.map((r) => r.body.producerId)).size).toBe(1)
  })

  test('idempotent: false keeps one request in flight', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { idempotent: false, maxBatchRecords: 5 })
    await producer.send('t', { value: -1, partition: 0 })
    await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send('t', { value: i, partition: 0 })))
    // Full batches wait too: the first send after the warm-up goes alone, then 5 + 5 + 5 + 4.
    expect(broker.count('POST', PRODUCE)).toBe(6)
  })

  test('behind a request in flight, a partial batch waits for an answer instead of going out small', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client)
    await producer.send('t', { value: -1, partition: 0 })
    await expectNumberedSendsInOrder(producer, 50)
    // The first send after the warm-up goes alone, the 49 queued behind it together.
    expect(broker.count('POST', PRODUCE)).toBe(3)
  })

  test('maxInFlight outside 1..5 is refused', () => {
    expect(() => new Producer(client, { maxInFlight: 6 })).toThrow(RangeError)
    expect(() => new Producer(client, { maxInFlight: 0 })).toThrow(RangeError)
  })

  test('the sequence advances by each request record count, per topic', async () => {
    broker.createTopic('t', 1)
    broker.createTopic('u', 1)
    const producer = new Producer(client)
    await producer.send('t', [{ value: 1 }, { value: 2 }, { value: 3 }])
    await producer.send('t', { value: 4 })
    await producer.send('u', { value: 5 })
    await producer.send('t', [{ value: 6 }, { value: 7 }])
    const bodies = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => r.body)
    expect(bodies.map((b) => b.sequence)).toEqual([0, 3, 0, 4])
    expect(bodies[0].producerId).toBeGreaterThan(0)
    expect(Number.isSafeInteger(bodies[0].producerId)).toBe(true)
  })

  test('the producer places every record and sends one request per partition: keyless pinned per batch, keyed by the broker hash', async () => {
    broker.createTopic('t', 4)
    const producer = new Producer(client)
    await producer.send('t', [{ value: 1 }, { value: 2 }, { key: 'k', value: 3 }, { value: 4, partition: 3 }])
    const produced = broker.requests.filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
    const partitionOf = (value: number) => {
      const request = produced.find((r) =>
        r.body.records.some((rec: { value: number }) => rec.value === value),
      )
      return Number(/partitions\/(\d+)\//.exec(request?.path ?? '')?.[1])
    }
    for (const r of produced) expect(r.path).toMatch(/^\/v1\/topics\/t\/partitions\/\d\/records$/)
    expect(partitionOf(2)).toBe(partitionOf(1))
    expect(partitionOf(3)).toBe(partitionForKey(wirePackr.pack('k'), 4))
    expect(partitionOf(4)).toBe(3)
    // One request per partition, each starting that partition's own count at 0.
    expect(new Set(produced.map((r) => r.path)).size).toBe(produced.length)
    expect(produced.map((r) => r.body.sequence)).toEqual(produced.map(() => 0))
    expect(new Set(produced.map((r) => r.body.producerId)).size).toBe(1)
  })

  test('sequences count per partition: each request carries its partition count before its first record', async () => {
    broker.createTopic('t', 3)
    const producer = new Producer(client)
    await producer.send('t', [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 1 },
      { value: 'c', partition: 0 },
    ])
    await producer.send('t', [{ value: 'd', partition: 1 }])
    await producer.send('t', [
      { value: 'e', partition: 2 },
      { value: 'f', partition: 0 },
      { value: 'g', partition: 1 },
    ])
    const produced = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => `${/partitions\/(\d+)\//.exec(r.path)?.[1]}:${r.body.sequence}+${r.body.records.length}`)
    expect(produced.sort()).toEqual(['0:0+2', '0:2+1', '1:0+1', '1:1+1', '1:2+1', '2:0+1'])
  })

  test('a batch for one partition takes the partition route', async () => {
    broker.createTopic('t', 3)
    const producer = new Producer(client)
    await producer.send('t', [{ value: 1 }, { value: 2 }])
    await producer.send('t', [{ value: 3, partition: 2 }])
    const [keyless, explicit] = broker.requests.filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
    expect(keyless?.path).toMatch(/^\/v1\/topics\/t\/partitions\/\d\/records$/)
    expect(keyless?.body.records).toEqual([{ value: 1 }, { value: 2 }])
    expect(explicit?.path).toBe('/v1/topics/t/partitions/2/records')
    expect(broker.topics.get('t')?.[2]?.at(-1)?.value).toBe(3)
  })

  test('idempotent: false sends neither id nor sequence, and a cut write is not repeated', async () => {
    broker.createTopic('t', 1)
    broker.inject('POST', PRODUCE, cutAfterWrite)
    const producer = new Producer(client, { idempotent: false })
    await expect(producer.send('t', { value: 'x' })).rejects.toMatchObject({ code: 'BROKER_UNREACHABLE' })
    expect(broker.count('POST', PRODUCE)).toBe(1)
    expect(broker.requests.find((r) => r.method === 'POST')?.body.producerId).toBeUndefined()
  })

  test("idempotence needs acks 'all': acks 1 and 0 send no sequence, and asking for both throws", async () => {
    broker.createTopic('t', 1)
    for (const acks of [1, 0] as const) {
      expect(() => new Producer(client, { acks, idempotent: true })).toThrow(RangeError)
      const producer = new Producer(client, { acks })
      await producer.send('t', { value: `acks-${acks}`, partition: 0 })
      await producer.close()
    }
    const bodies = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => r.body)
    expect(bodies.map((b) => [b.acks, b.producerId, b.sequence])).toEqual([
      [1, undefined, undefined],
      [0, undefined, undefined],
    ])
  })

  test('after a failed request the stream moves to a fresh producer id', async () => {
    broker.createTopic('t', 1)
    broker.inject('POST', PRODUCE, (_req, reply) => {
      fail(reply, 400, 'INVALID_REQUEST', 'no')
      return true
    })
    const producer = new Producer(client)
    await expect(producer.send('t', { value: 'x', partition: 0 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    await producer.send('t', { value: 'y', partition: 0 })
    const bodies = broker.requests
      .filter((r) => r.method === 'POST' && PRODUCE.test(r.path))
      .map((r) => r.body)
    expect(bodies[1].producerId).not.toBe(bodies[0].producerId)
    expect(bodies[1].sequence).toBe(0)
  })
})

describe('confirms and errors', () => {
  test('offsets come back in send order across partitions', async () => {
    broker.createTopic('t', 3)
    const producer = new Producer(client, { lingerMs: 5 })
    const sends = Array.from({ length: 30 }, (_, i) => producer.send('t', { value: i, partition: i % 3 }))
    const results = (await Promise.all(sends)).map((r) => r[0])
    results.forEach((o, i) => {
      expect(o).toEqual({ partition: i % 3, offset: Math.floor(i / 3) })
    })
  })

  test('a typed error rejects every send of the failed request, and is not retried', async () => {
    const producer = new Producer(client, { lingerMs: 5 })
    const a = producer.send('missing', { value: 1, partition: 0 })
    const b = producer.send('missing', { value: 2, partition: 0 })
    await expect(a).rejects.toBeInstanceOf(TopicNotFoundError)
    await expect(b).rejects.toBeInstanceOf(TopicNotFoundError)
    expect(broker.count('POST', PRODUCE)).toBe(1)
  })

  test('a retriable error with Retry-After is retried, then succeeds', async () => {
    broker.createTopic('t', 1)
    broker.inject('POST', PRODUCE, (_req, reply) => {
      reply.header('retry-after', '0')
      fail(reply, 429, 'THROTTLED', 'slow down')
      return true
    })
    const producer = new Producer(client)
    await expect(producer.send('t', { value: 1, partition: 0 })).resolves.toEqual([
      { partition: 0, offset: 0 },
    ])
    expect(broker.count('POST', PRODUCE)).toBe(2)
  })

  test('close() flushes queued sends and then refuses new ones', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client, { lingerMs: 60_000 })
    const sent = producer.send('t', { value: 1, partition: 0 })
    await producer.close()
    await expect(sent).resolves.toHaveLength(1)
    await expect(producer.send('t', { value: 2 })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' })
  })

  test('values of every MessagePack kind come back as sent', async () => {
    broker.createTopic('t', 1)
    const producer = new Producer(client)
    const value = {
      s: 'é',
      n: -1.5,
      i: 2 ** 40,
      big: 2n ** 60n,
      bytes: Buffer.from([0, 255]),
      list: [null, true],
      map: { a: 1 },
    }
    await producer.send('t', { key: Buffer.from('k'), value, headers: { h: 'v' }, partition: 0 })
    const fetched = await client.fetch('t', 0, { offset: 0 })
    expect(fetched.records[0]?.value).toEqual(value)
    expect(fetched.records[0]?.key).toEqual(Buffer.from('k'))
  })
})
