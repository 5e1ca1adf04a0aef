/**
 * The client library against a real broker process: values round-trip in both encodings, the
 * producer's producerId + sequence make a repeated request return the first offsets, a consumer
 * iterates records across partitions, a manual commit survives a broker restart and the next
 * member resumes right after it, two members split a topic's partitions, close() leaves the
 * group promptly, and a client whose first bootstrap URL is dead works through the second.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Admin } from '../../../src/client/admin.js'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer } from '../../../src/client/consumer.js'
import { Producer } from '../../../src/client/producer.js'
import { TopicReader } from '../../../src/client/topic-reader.js'
import type { ConsumerRecord } from '../../../src/client/types.js'
import { TopicExistsError, TopicNotFoundError } from '../../../src/errors.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { deadUrl } from '../../unit/client/fake-broker.js'

let broker: BrokerProcess
let client: BrokerClient
let admin: Admin
let n = 0
const unique = (prefix: string) => `${prefix}-${process.pid}-${++n}`

beforeAll(async () => {
  broker = await startBroker()
  client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 20 } })
  admin = new Admin(client)
})

afterAll(async () => {
  await client?.close()
  await broker?.stop()
})

async function topicWith(partitions: number, perPartition: number): Promise<string> {
  const topic = unique('t')
  await admin.createTopic(topic, { partitions })
  const producer = new Producer(client, { lingerMs: 2 })
  await Promise.all(
    Array.from({ length: partitions }, (_, p) =>
      producer.send(
        topic,
        Array.from({ length: perPartition }, (_, i) => ({ value: `${p}-${i}`, partition: p })),
      ),
    ),
  )
  return topic
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('produce and fetch', () => {
  test('values of every kind come back as sent, in MessagePack and in JSON', async () => {
    const topic = unique('values')
    await admin.createTopic(topic)
    const value = {
      text: 'héllo',
      int: 7,
      negative: -3,
      float: 1.25,
      big: 2n ** 60n,
      bytes: Buffer.from([0, 1, 254, 255]),
      list: [1, 'two', null, true],
      nested: { a: { b: 'c' } },
    }
    const producer = new Producer(client)
    const [offset] = await producer.send(topic, { key: 'k', value, headers: { source: 'test' } })
    expect(offset).toEqual({ partition: 0, offset: 0 })
    const fetched = await client.fetch(topic, 0, { offset: 0 })
    expect(fetched.records[0]).toMatchObject({ offset: 0, key: 'k', value, headers: { source: 'test' } })

    const jsonClient = new BrokerClient({ urls: broker.url, encoding: 'json' })
    try {
      const viaJson = await jsonClient.fetch(topic, 0, { offset: 0 })
      expect(viaJson.records[0]?.value).toMatchObject({ text: 'héllo', bytes: Buffer.from([0, 1, 254, 255]) })
    } finally {
      await jsonClient.close()
    }
  })

  test('offsets come back in send order and match what a reader sees', async () => {
    const topic = unique('order')
    await admin.createTopic(topic, { partitions: 2 })
    const producer = new Producer(client, { lingerMs: 5 })
    const sends = Array.from({ length: 200 }, (_, i) => producer.send(topic, { key: `k${i % 7}`, value: i }))
    const offsets = (await Promise.all(sends)).map((o) => o[0] as { partition: number; offset: number })
    for (const p of [0, 1]) {
      const mine = offsets.filter((o) => o.partition === p).map((o) => o.offset)
      expect(mine).toEqual(mine.map((_, i) => i))
    }
    const reader = new TopicReader(client, { topics: topic, follow: false })
    const seen = new Map<string, unknown>()
    for await (const r of reader) seen.set(`${r.partition}:${r.offset}`, r.value)
    offsets.forEach((o, i) => {
      expect(seen.get(`${o.partition}:${o.offset}`)).toBe(i)
    })
  })

  test('a request repeated with the same producerId and sequence is answered with the first offsets', async () => {
    const topic = unique('dedupe')
    await admin.createTopic(topic, { partitions: 2 })
    const body = {
      records: [
        { value: 'a', partition: 0 },
        { value: 'b', partition: 1 },
        { value: 'c', partition: 0 },
      ],
      producerId: 123456789,
      sequence: 0,
    }
    const first = await client.produce(topic, body)
    const again = await client.produce(topic, body)
    expect(again.offsets).toEqual(first.offsets)
    const description = await admin.describeTopic(topic)
    expect(description.partitions.map((p) => p.logEndOffset)).toEqual([2, 1])
    const next = await client.produce(topic, { ...body, sequence: 3 })
    expect(next.offsets).toEqual([
      { partition: 0, offset: 2 },
      { partition: 1, offset: 1 },
      { partition: 0, offset: 3 },
    ])
  })

  test('broker errors arrive as their typed classes', async () => {
    await expect(admin.describeTopic(unique('missing'))).rejects.toBeInstanceOf(TopicNotFoundError)
    const topic = unique('dup')
    await admin.createTopic(topic)
    await expect(admin.createTopic(topic)).rejects.toBeInstanceOf(TopicExistsError)
    await expect(new Producer(client).send(unique('missing'), { value: 1 })).rejects.toBeInstanceOf(
      TopicNotFoundError,
    )
  })

  test('with the first bootstrap URL dead, the client works through the second', async () => {
    const failover = new BrokerClient({ urls: [await deadUrl(), broker.url] })
    try {
      const topic = unique('failover')
      await new Admin(failover).createTopic(topic)
      const [o] = await new Producer(failover).send(topic, { value: 'through the second' })
      expect(o?.offset).toBe(0)
      expect(failover.servers.servers[0]?.failures).toBeGreaterThanOrEqual(1)
    } finally {
      await failover.close()
    }
  })
})

describe('consumer groups', () => {
  test('async iteration yields every record of every partition once', async () => {
    const topic = await topicWith(3, 10)
    const consumer = new Consumer(client, { group: unique('g'), topics: topic, maxWaitMs: 200 })
    const seen: ConsumerRecord[] = []
    for await (const record of consumer) {
      seen.push(record)
      consumer.commit(record).catch(() => undefined)
      if (seen.length === 30) break
    }
    expect(new Set(seen.map((r) => r.value)).size).toBe(30)
    for (const p of [0, 1, 2]) {
      expect(seen.filter((r) => r.partition === p).map((r) => r.offset)).toEqual(
        Array.from({ length: 10 }, (_, i) => i),
      )
    }
  })

  test('a manual commit survives a broker restart and the next member resumes after it', async () => {
    const topic = await topicWith(1, 20)
    const group = unique('g')
    const first = new Consumer(client, { group, topics: topic, maxWaitMs: 200, maxRecords: 5 })
    let last: ConsumerRecord | undefined
    for await (const record of first) {
      last = record
      if (record.offset === 9) {
        await first.commit(record)
        break
      }
    }
    expect(last?.offset).toBe(9)
    broker = await broker.restart()
    // Same port: the client's pooled connections are dead and get replaced on the retry.
    const second = new Consumer(client, { group, topics: topic, maxWaitMs: 200 })
    const next = await second.next()
    expect(next.value?.offset).toBe(10)
    expect(next.value?.value).toBe('0-10')
    await second.close()
  })

  test('two members of a group split the partitions and together see every record once', async () => {
    const topic = await topicWith(4, 5)
    const group = unique('g')
    const a = new Consumer(client, { group, topics: topic, maxWaitMs: 200, heartbeatIntervalMs: 200 })
    const b = new Consumer(client, { group, topics: topic, maxWaitMs: 200, heartbeatIntervalMs: 200 })
    await a.connect()
    await b.connect()
    // `a` learns of the second member from its next heartbeat.
    await until(() => a.assignments.length > 0 && b.assignments.length > 0 && a.generation === b.generation)
    const owned = [...a.assignments, ...b.assignments].map((tp) => tp.partition).sort()
    expect(owned).toEqual([0, 1, 2, 3])
    const seen: string[] = []
    const drain = async (c: Consumer, count: number) => {
      for (let i = 0; i < count; i++) {
        const r = await c.next()
        if (r.done) break
        seen.push(String(r.value.value))
        await c.commit(r.value)
      }
    }
    await Promise.all([drain(a, a.assignments.length * 5), drain(b, b.assignments.length * 5)])
    expect(seen.sort()).toEqual(
      [0, 1, 2, 3].flatMap((p) => Array.from({ length: 5 }, (_, i) => `${p}-${i}`)).sort(),
    )
    await Promise.all([a.close(), b.close()])
  })

  test('close() leaves the group promptly, even during a long poll', async () => {
    const topic = await topicWith(2, 0)
    const group = unique('g')
    const stayer = new Consumer(client, { group, topics: topic, heartbeatIntervalMs: 100, maxWaitMs: 200 })
    const leaver = new Consumer(client, { group, topics: topic, maxWaitMs: 10_000 })
    await stayer.connect()
    await leaver.connect()
    await until(() => stayer.assignments.length === 1)
    const polling = leaver.next()
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    await leaver.close()
    expect(Date.now() - started).toBeLessThan(2_000)
    await expect(polling).resolves.toMatchObject({ done: true })
    // The session timeout is 10 s; the partitions move long before that.
    await until(() => stayer.assignments.length === 2, 5_000)
    const description = await admin.describeGroup(group)
    expect(description.members).toHaveLength(1)
    await stayer.close()
  })

  test('group lag reflects commits', async () => {
    const topic = await topicWith(1, 4)
    const group = unique('g')
    const consumer = new Consumer(client, { group, topics: topic, maxWaitMs: 200 })
    const first = await consumer.next()
    await consumer.commit(first.value as ConsumerRecord)
    await consumer.close()
    const lag = await admin.groupLag(group)
    expect(lag.total).toBe(3)
  })
})

describe('exchanges', () => {
  test('a fanout exchange routes one publish to every bound topic', async () => {
    const [t1, t2] = [unique('fan'), unique('fan')] as [string, string]
    await admin.createTopic(t1)
    await admin.createTopic(t2)
    const exchange = unique('x')
    await admin.createExchange(exchange, 'fanout')
    await admin.bind(exchange, t1)
    await admin.bind(exchange, t2)
    const res = await new Producer(client).publish(exchange, { routingKey: 'any', value: 'hello' })
    expect(res.results[0]?.routed.map((r) => r.topic).sort()).toEqual([t1, t2].sort())
    const described = await admin.describeExchange(exchange)
    expect(described.bindings).toHaveLength(2)
    await admin.unbind(exchange, t2)
    await admin.deleteExchange(exchange)
  })
})
