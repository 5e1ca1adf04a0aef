/**
 * Failover plumbing of the broker client: with two bootstrap URLs and the first one down, every
 * call works through the second; `NOT_LEADER` moves a partition's requests to the leader the
 * broker names; a non-idempotent request is repeated after a refused connection (nothing was
 * sent) but not after a cut one (it may have landed); programming errors are never retried.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { BrokerClient, splitUrls } from '../../../src/client/broker-client.js'
import { BrokerUnreachableError } from '../../../src/client/client-errors.js'
import { Producer } from '../../../src/client/producer.js'
import { answer, cutBeforeWrite, deadUrl, FakeBroker, fail } from './fake-broker.js'

let a: FakeBroker
let b: FakeBroker

beforeEach(async () => {
  a = new FakeBroker()
  b = new FakeBroker()
  await a.start()
  await b.start()
})

afterEach(async () => {
  await a.stop()
  await b.stop()
})

describe('bootstrap failover', () => {
  test('with the first URL down, produce, fetch and admin calls work through the second', async () => {
    const down = await deadUrl()
    const client = new BrokerClient({ urls: [down, b.url] })
    try {
      await client.createTopic({ name: 't', partitions: 2 })
      const producer = new Producer(client)
      const offsets = await producer.send('t', [{ value: 'x', partition: 1 }])
      expect(offsets).toEqual([{ partition: 1, offset: 0 }])
      const fetched = await client.fetch('t', 1, { offset: 0 })
      expect(fetched.records.map((r) => r.value)).toEqual(['x'])
      const down0 = client.servers.servers[0]
      expect(down0?.failures).toBeGreaterThanOrEqual(1)
      // The dead server is cooling down: later calls go straight to the live one.
      const before = down0?.failures
      await client.listTopics()
      expect(client.servers.servers[0]?.failures).toBe(before)
    } finally {
      await client.close()
    }
  })

  test('with every URL down the call fails with BrokerUnreachableError after bounded retries', async () => {
    const client = new BrokerClient({
      urls: [await deadUrl(), await deadUrl()],
      retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
    })
    try {
      const started = Date.now()
      const err = await client.listTopics().catch((e) => e)
      expect(err).toBeInstanceOf(BrokerUnreachableError)
      expect(err.maybeDelivered).toBe(false)
      expect(Date.now() - started).toBeLessThan(5_000)
      // Three attempts, plus the metadata refreshes tried between them.
      expect(client.servers.servers.reduce((n, s) => n + s.failures, 0)).toBeGreaterThanOrEqual(3)
    } finally {
      await client.close()
    }
  })

  test('comma lists and whitespace are accepted; nothing means the local default', () => {
    expect(splitUrls(' http://a:1, http://b:2 ')).toEqual(['http://a:1', 'http://b:2'])
    expect(splitUrls(['http://a:1,http://b:2', 'http://c:3'])).toEqual([
      'http://a:1',
      'http://b:2',
      'http://c:3',
    ])
    expect(splitUrls(undefined)).toEqual(['http://127.0.0.1:8082'])
  })
})

describe('NOT_LEADER', () => {
  test('a partition request follows details.leaderUrl and sticks to the new leader', async () => {
    b.createTopic('t', 1)
    b.write('t', { records: [{ value: 'on b' }] })
    a.inject('GET', /partitions\/0\/records$/, (_req, reply) => {
      fail(reply, 421, 'NOT_LEADER', 'not the leader', { leaderUrl: b.url })
      return true
    })
    const client = new BrokerClient({ urls: [a.url] })
    try {
      const first = await client.fetch('t', 0, { offset: 0 })
      expect(first.records.map((r) => r.value)).toEqual(['on b'])
      await client.fetch('t', 0, { offset: 0 })
      expect(a.count('GET', /records$/)).toBe(1)
      expect(b.count('GET', /records$/)).toBe(2)
      expect(client.servers.servers.map((s) => s.url)).toContain(b.url)
    } finally {
      await client.close()
    }
  })

  test('a topic-level NOT_LEADER naming a partition teaches that partition its leader', async () => {
    b.createTopic('t', 2)
    a.inject('POST', /^\/v1\/topics\/t\/records$/, (_req, reply) => {
      fail(reply, 421, 'NOT_LEADER', 'not here', { topic: 't', partition: 1, leaderUrl: b.url })
      return true
    })
    const client = new BrokerClient({ urls: [a.url] })
    try {
      await client.produce('t', { records: [{ value: 'x', partition: 1 }] })
      await client.fetch('t', 1, { offset: 0 })
      expect(b.count('GET', /partitions\/1\/records$/)).toBe(1)
      expect(a.count('GET', /records$/)).toBe(0)
    } finally {
      await client.close()
    }
  })

  test("the producer learns each partition's leader from the topic's metadata and sends each partition's records straight to it", async () => {
    a.createTopic('t', 2)
    b.createTopic('t', 2)
    // Broker a (id 1) leads partition 0, broker b (id 2) partition 1; a refuses partition 1.
    a.inject('GET', /^\/v1\/cluster$/, (_req, reply) => {
      answer(reply, 200, {
        brokers: [
          { id: 1, url: a.url, alive: true },
          { id: 2, url: b.url, alive: true },
        ],
        controller: 1,
      })
      return true
    })
    a.inject('GET', /^\/v1\/topics\/t$/, (_req, reply) => {
      const partition = (p: number, leader: number) => ({
        partition: p,
        leader,
        replicas: [1, 2],
        isr: [1, 2],
        logStartOffset: 0,
        logEndOffset: 0,
        highWatermark: 0,
      })
      answer(reply, 200, {
        name: 't',
        replicationFactor: 2,
        config: {},
        partitions: [partition(0, 1), partition(1, 2)],
      })
      return true
    })
    const client = new BrokerClient({ urls: [a.url] })
    try {
      const producer = new Producer(client)
      // One send spanning both partitions: no broker could write it as one request.
      const offsets = await producer.send('t', [
        { value: 'x', partition: 0 },
        { value: 'y', partition: 1 },
        { value: 'z', partition: 0 },
      ])
      expect(offsets).toEqual([
        { partition: 0, offset: 0 },
        { partition: 1, offset: 0 },
        { partition: 0, offset: 1 },
      ])
      expect(a.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([
        '/v1/topics/t/partitions/0/records',
      ])
      expect(b.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([
        '/v1/topics/t/partitions/1/records',
      ])
      expect(a.topics.get('t')?.[0]?.map((r) => r.value)).toEqual(['x', 'z'])
      expect(b.topics.get('t')?.[1]?.map((r) => r.value)).toEqual(['y'])
    } finally {
      await client.close()
    }
  })

  test('without a leader URL the client refreshes metadata and tries again', async () => {
    a.createTopic('t', 1)
    a.inject('GET', /partitions\/0\/records$/, (_req, reply) => {
      fail(reply, 421, 'NOT_LEADER', 'moving')
      return true
    })
    const client = new BrokerClient({ urls: [a.url], retry: { initialDelayMs: 1 } })
    try {
      await client.fetch('t', 0, { offset: 0 })
      expect(a.count('GET', /^\/v1\/cluster$/)).toBe(1)
      expect(a.count('GET', /^\/v1\/topics\/t$/)).toBe(1)
    } finally {
      await client.close()
    }
  })
})

describe('what is repeated', () => {
  test('a non-idempotent request cut mid-flight is not repeated', async () => {
    a.inject('POST', /^\/v1\/topics$/, cutBeforeWrite)
    const client = new BrokerClient({ urls: [a.url] })
    try {
      const err = await client.createTopic({ name: 't' }).catch((e) => e)
      expect(err).toBeInstanceOf(BrokerUnreachableError)
      expect(err.maybeDelivered).toBe(true)
      expect(a.count('POST', /^\/v1\/topics$/)).toBe(1)
    } finally {
      await client.close()
    }
  })

  test('an idempotent request cut mid-flight is repeated', async () => {
    a.createTopic('t', 1)
    a.inject('GET', /^\/v1\/topics\/t$/, cutBeforeWrite)
    const client = new BrokerClient({ urls: [a.url], retry: { initialDelayMs: 1 } })
    try {
      await expect(client.describeTopic('t')).resolves.toMatchObject({ name: 't' })
    } finally {
      await client.close()
    }
  })

  test('calls after close() are refused without touching the network', async () => {
    const client = new BrokerClient({ urls: [a.url] })
    await client.close()
    await expect(client.listTopics()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' })
    expect(a.requests.length).toBe(0)
  })
})
