/**
 * The consumer controls kafkajs users expect, against the fake coordinator: seek backwards and
 * forwards (sent before the next fetch, after queued commits), nack (the record and those after
 * it come again, and commit() after it does not ack it), pause/resume of one partition while the others
 * go on, batches of one partition with one commit, and autoOffsetReset for partitions the group
 * never committed.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer } from '../../../src/client/consumer.js'
import { FakeBroker } from './fake-broker.js'

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

const fill = (topic: string, partitions: number, perPartition: number) =>
  broker.fill(topic, partitions, perPartition)

async function values(consumer: Consumer, n: number): Promise<unknown[]> {
  const out: unknown[] = []
  while (out.length < n) {
    const { value } = await consumer.next()
    out.push(value?.value)
  }
  return out
}

const consumerOf = (options: Partial<ConstructorParameters<typeof Consumer>[1]> = {}) =>
  new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20, ...options })

describe('seek and nack', () => {
  test('seek backwards delivers again, forwards skips; commits queued before it go first', async () => {
    fill('t', 1, 6)
    const consumer = consumerOf({ maxRecords: 3 })
    expect(await values(consumer, 2)).toEqual(['0-0', '0-1'])
    void consumer.commit()
    consumer.seek({ topic: 't', partition: 0, offset: 0 })
    expect(await values(consumer, 4)).toEqual(['0-0', '0-1', '0-2', '0-3'])
    const order = broker.requests.map((r) => `${r.method} ${r.path.replace(/members\/[^/]+/, 'members/m')}`)
    const seekAt = order.indexOf('POST /v1/groups/g/members/m/seek')
    expect(order.slice(seekAt - 1, seekAt + 2)).toEqual([
      'POST /v1/groups/g/offsets',
      'POST /v1/groups/g/members/m/seek',
      'GET /v1/groups/g/members/m/records',
    ])
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(2)
    consumer.seek({ topic: 't', partition: 0, offset: 5 })
    expect(await values(consumer, 1)).toEqual(['0-5'])
    await consumer.close()
  })

  test('nack delivers the record again with the ones after it; a commit() cannot ack past it', async () => {
    fill('t', 1, 3)
    const consumer = consumerOf()
    const seen: string[] = []
    let nacked = false
    for await (const record of consumer) {
      seen.push(String(record.value))
      if (record.offset === 1 && !nacked) {
        nacked = true
        consumer.nack(record)
      }
      void consumer.commit()
      if (seen.length === 4) break
    }
    expect(seen).toEqual(['0-0', '0-1', '0-1', '0-2'])
    // Every commit, in order: 1 (past 0-0); the commit() right after the nack had nothing of the
    // partition to ack; then 3, once 0-1 and 0-2 came again.
    const commits = broker.requests
      .filter((r) => !r.path.endsWith('/seek'))
      .flatMap((r) => (r.body?.commit ?? r.body?.offsets ?? []).map((o: { offset: number }) => o.offset))
    expect(commits).toEqual([1, 3])
  })

  test('seek on a partition this member does not own is refused', async () => {
    fill('t', 1, 1)
    fill('other', 1, 1)
    const consumer = consumerOf()
    await consumer.connect()
    expect(() => consumer.seek({ topic: 'other', partition: 0, offset: 0 })).toThrow(RangeError)
    await consumer.close()
  })
})

describe('pause and resume', () => {
  test('a paused partition is held back while the others go on, and resumes where it stopped', async () => {
    fill('t', 2, 4)
    const consumer = consumerOf({ maxRecords: 2 })
    await consumer.connect()
    consumer.pause([{ topic: 't', partition: 1 }])
    expect(consumer.paused()).toEqual([{ topic: 't', partition: 1 }])
    expect(await values(consumer, 4)).toEqual(['0-0', '0-1', '0-2', '0-3'])
    consumer.resume([{ topic: 't', partition: 1 }])
    expect(consumer.paused()).toEqual([])
    expect(await values(consumer, 4)).toEqual(['1-0', '1-1', '1-2', '1-3'])
    await consumer.close()
  })
})

describe('batches', () => {
  test('each batch is one partition in offset order, and batch.commit() commits all of it', async () => {
    fill('t', 2, 3)
    const consumer = consumerOf()
    const batches: Array<[number, number[]]> = []
    for await (const batch of consumer.batches()) {
      batches.push([batch.partition, batch.records.map((r) => r.offset)])
      await batch.commit()
      expect(broker.groups.get('g')?.committed.get(`t/${batch.partition}`)).toBe(3)
      if (batches.length === 2) break
    }
    expect(batches.sort()).toEqual([
      [0, [0, 1, 2]],
      [1, [0, 1, 2]],
    ])
    expect(consumer.closed).toBe(true)
  })
})

describe('autoOffsetReset', () => {
  test("'latest' starts a new group at the end; 'earliest' at the start; a timestamp at the first record at or after it", async () => {
    fill('t', 1, 3)
    const latest = consumerOf({ group: 'late', autoOffsetReset: 'latest' })
    await latest.connect()
    const waiting = latest.next()
    // Produce only once the consumer has settled its start at the log end (its seek went out).
    for (let i = 0; i < 200 && broker.count('POST', /\/seek$/) === 0; i++)
      await new Promise((r) => setTimeout(r, 10))
    expect(broker.requests.find((r) => r.path.endsWith('/seek'))?.body.offsets).toEqual([
      { topic: 't', partition: 0, offset: 3 },
    ])
    broker.write('t', { records: [{ value: 'new', partition: 0 }] })
    expect((await waiting).value?.value).toBe('new')
    await latest.close()

    const earliest = consumerOf({ group: 'early', autoOffsetReset: 'earliest' })
    expect(await values(earliest, 1)).toEqual(['0-0'])
    await earliest.close()

    const log = broker.topics.get('t')?.[0] ?? []
    for (const [i, r] of log.entries()) r.timestamp = 1_000 + i
    const since = consumerOf({ group: 'since', autoOffsetReset: 1_002 })
    expect(await values(since, 1)).toEqual(['0-2'])
    await since.close()
  })

  test('a partition the group committed resumes from the commit, whatever autoOffsetReset says', async () => {
    fill('t', 1, 4)
    broker.groups.set('g', { generation: 0, members: new Map(), committed: new Map([['t/0', 2]]) })
    const consumer = consumerOf({ autoOffsetReset: 'latest' })
    expect(await values(consumer, 1)).toEqual(['0-2'])
    expect(broker.count('POST', /\/seek$/)).toBe(0)
    await consumer.close()
  })
})
