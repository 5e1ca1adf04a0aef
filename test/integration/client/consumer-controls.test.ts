/**
 * The consumer controls against a real broker process: seek (backwards and forwards), nack (the
 * record comes again and counts as a redelivery, so `maxDeliveries` dead-letters a record nacked
 * too often), pause/resume of one partition while another goes on, batches with one commit each,
 * autoOffsetReset ('earliest', 'latest', a timestamp) for a group with no commits, and autoCommit
 * as the broker's auto ack (the whole batch is committed when handed out).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Admin } from '../../../src/client/admin.js'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer, type ConsumerOptions } from '../../../src/client/consumer.js'
import { Producer } from '../../../src/client/producer.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'

let broker: BrokerProcess
let client: BrokerClient
let admin: Admin
let producer: Producer
let n = 0
const unique = (prefix: string) => `${prefix}-${process.pid}-${++n}`

beforeAll(async () => {
  broker = await startBroker()
  client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 20 } })
  admin = new Admin(client)
  producer = new Producer(client)
})

afterAll(async () => {
  await producer?.close()
  await client?.close()
  await broker?.stop()
})

/** A topic whose partition `p` holds values `p-0` … `p-{perPartition-1}`. */
async function topicWith(partitions: number, perPartition: number): Promise<string> {
  const topic = unique('t')
  await admin.createTopic(topic, { partitions })
  for (let p = 0; p < partitions; p++) {
    await producer.send(
      topic,
      Array.from({ length: perPartition }, (_, i) => ({ value: `${p}-${i}`, partition: p })),
    )
  }
  return topic
}

function consumerOf(topic: string, options: Partial<ConsumerOptions> = {}): Consumer<string> {
  return new Consumer<string>(client, { group: unique('g'), topics: topic, maxWaitMs: 100, ...options })
}

async function values(consumer: Consumer<string>, count: number): Promise<string[]> {
  const out: string[] = []
  while (out.length < count) {
    const { value, done } = await consumer.next()
    if (done) throw new Error('consumer closed')
    out.push(value.value)
  }
  return out
}

describe('seek and nack', () => {
  test('seek backwards reads the records again, forwards skips them', async () => {
    const topic = await topicWith(1, 6)
    const consumer = consumerOf(topic, { maxRecords: 3 })
    expect(await values(consumer, 3)).toEqual(['0-0', '0-1', '0-2'])
    consumer.seek({ topic, partition: 0, offset: 1 })
    expect(await values(consumer, 3)).toEqual(['0-1', '0-2', '0-3'])
    consumer.seek({ topic, partition: 0, offset: 5 })
    expect(await values(consumer, 1)).toEqual(['0-5'])
    await consumer.close()
  })

  test('nack redelivers the record; after maxDeliveries it goes to the dead-letter topic', async () => {
    const topic = await topicWith(1, 2)
    const dlq = unique('dlq')
    await admin.createTopic(dlq)
    const group = unique('g')
    await client.setGroupConfig(group, { maxDeliveries: 3, deadLetterTopic: dlq })
    // One record per fetch: a nack rewinds the partition, so records fetched after the nacked one
    // are delivered (and counted) again too.
    const consumer = new Consumer<string>(client, { group, topics: topic, maxWaitMs: 100, maxRecords: 1 })
    const seen: string[] = []
    for await (const record of consumer) {
      seen.push(`${record.offset}:${record.value}`)
      if (record.offset === 0) consumer.nack(record)
      else await consumer.commit(record)
      if (record.offset === 1 || seen.length === 10) break
    }
    // Delivered three times, then moved aside: the group went on with offset 1.
    expect(seen).toEqual(['0:0-0', '0:0-0', '0:0-0', '1:0-1'])
    const dead = await client.fetch(dlq, 0, { offset: 0 })
    expect(dead.records.map((r) => r.value)).toEqual(['0-0'])
    expect(await client.groupOffsets(group)).toEqual([
      expect.objectContaining({ topic, partition: 0, committed: 2 }),
    ])
  })
})

test('pause holds one partition back while the other goes on; resume reads it from where it stopped', async () => {
  const topic = await topicWith(2, 3)
  const consumer = consumerOf(topic)
  await consumer.connect()
  consumer.pause([{ topic, partition: 0 }])
  expect(await values(consumer, 3)).toEqual(['1-0', '1-1', '1-2'])
  consumer.resume([{ topic, partition: 0 }])
  expect(await values(consumer, 3)).toEqual(['0-0', '0-1', '0-2'])
  await consumer.close()
})

test('batches: one partition each, in order, committed as one', async () => {
  const topic = await topicWith(2, 3)
  const group = unique('g')
  const consumer = new Consumer<string>(client, { group, topics: topic, maxWaitMs: 100 })
  const got: Array<[number, string[]]> = []
  for await (const batch of consumer.batches()) {
    got.push([batch.partition, batch.records.map((r) => r.value)])
    await batch.commit()
    if (got.length === 2) break
  }
  expect(got.sort()).toEqual([
    [0, ['0-0', '0-1', '0-2']],
    [1, ['1-0', '1-1', '1-2']],
  ])
  const committed = (await client.groupOffsets(group)).map((o) => [o.partition, o.committed]).sort()
  expect(committed).toEqual([
    [0, 3],
    [1, 3],
  ])
})

test("autoCommit is the broker's auto ack: a batch counts as committed once handed out", async () => {
  const topic = await topicWith(1, 3)
  const consumer = consumerOf(topic, { autoCommit: true })
  expect(await values(consumer, 1)).toEqual(['0-0'])
  // The application has seen one record; the broker committed the whole batch when it sent it.
  // Had the process crashed here, 0-1 and 0-2 would be lost to this group: at-most-once.
  expect(await client.groupOffsets(consumer.group)).toEqual([
    expect.objectContaining({ topic, partition: 0, committed: 3 }),
  ])
  await consumer.close()
})

describe('autoOffsetReset for a group with no commits', () => {
  test("'latest' reads only what is produced after it joined", async () => {
    const topic = await topicWith(1, 3)
    // The consumer settles its start (a seek to the log end) in its first fetch; its debug log
    // says when, so the record below is produced after that, never before.
    let settled: () => void = () => undefined
    const sought = new Promise<void>((resolve) => {
      settled = resolve
    })
    const quiet = () => undefined
    const logger = {
      info: quiet,
      warn: quiet,
      error: quiet,
      debug: (m: string) => m.endsWith('sought') && settled(),
    }
    const logged = new BrokerClient({ urls: broker.url, logger })
    const consumer = new Consumer<string>(logged, {
      group: unique('g'),
      topics: topic,
      maxWaitMs: 100,
      autoOffsetReset: 'latest',
    })
    const first = consumer.next()
    await sought
    await producer.send(topic, { value: 'fresh', partition: 0 })
    expect((await first).value?.value).toBe('fresh')
    await consumer.close()
    await logged.close()
  })

  test("'earliest' and a timestamp", async () => {
    const topic = await topicWith(1, 2)
    const cutoff = Date.now() + 1
    await new Promise((r) => setTimeout(r, 5))
    await producer.send(topic, { value: 'after', partition: 0 })
    const earliest = consumerOf(topic, { autoOffsetReset: 'earliest' })
    expect(await values(earliest, 3)).toEqual(['0-0', '0-1', 'after'])
    await earliest.close()
    const since = consumerOf(topic, { autoOffsetReset: cutoff })
    expect(await values(since, 1)).toEqual(['after'])
    await since.close()
  })
})
