/**
 * Consumer contract against the fake group coordinator: iteration yields every partition's
 * records; commits ride on the next fetch (the POST form) when the iterator is about to fetch
 * and go out on their own when the application awaits them; auto commit commits what the
 * application moved past; a second member takes partitions and the first learns it from its
 * heartbeat (onRevoke / onAssign); a forgotten member joins again, and a commit the coordinator
 * refused for that reason is made again if the partition came back, or rejects if it went to
 * another member; close() and `break` leave at once, aborting a long poll.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer } from '../../../src/client/consumer.js'
import type { ConsumerRecord, TopicPartition } from '../../../src/client/types.js'
import { cutBeforeWrite, delay, FakeBroker, fail } from './fake-broker.js'

const MEMBER_FETCH = /^\/v1\/groups\/[^/]+\/members\/[^/]+\/records$/

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

async function take<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = []
  if (n === 0) return out
  for await (const item of it) {
    out.push(item)
    if (out.length === n) break
  }
  return out
}

describe('iteration', () => {
  test('yields every record of every assigned partition, in order within a partition', async () => {
    fill('t', 3, 4)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 50 })
    const records = await take(consumer, 12)
    expect(records.map((r) => r.value).sort()).toEqual(
      ['0', '1', '2'].flatMap((p) => [0, 1, 2, 3].map((i) => `${p}-${i}`)).sort(),
    )
    for (const p of [0, 1, 2]) {
      const offsets = records.filter((r) => r.partition === p).map((r) => r.offset)
      expect(offsets).toEqual([0, 1, 2, 3])
    }
    expect(records[0]?.topic).toBe('t')
    expect(consumer.closed).toBe(true)
  })

  test('connect() joins once and reports the assignment', async () => {
    fill('t', 2, 0)
    const assigned: TopicPartition[][] = []
    const consumer = new Consumer(client, {
      group: 'g',
      topics: ['t'],
      onAssign: (p) => void assigned.push(p),
    })
    const [first, second] = await Promise.all([consumer.connect(), consumer.connect()])
    expect(first).toEqual(second)
    expect(consumer.assignments).toHaveLength(2)
    expect(assigned).toEqual([
      [
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ],
    ])
    expect(broker.count('POST', /^\/v1\/groups\/g\/members$/)).toBe(1)
    await consumer.close()
  })
})

describe('commits', () => {
  test('commit() without await rides on the next fetch (commit and fetch in one round trip)', async () => {
    fill('t', 1, 3)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20, maxRecords: 3 })
    let seen = 0
    for await (const record of consumer) {
      seen++
      if (seen === 3) {
        void consumer.commit(record)
      }
      if (seen === 3) {
        // Ask for one more so the iterator fetches, then stop.
        broker.write('t', { records: [{ value: 'late', partition: 0 }] })
      }
      if (seen === 4) break
    }
    const posts = broker.requests.filter((r) => r.method === 'POST' && MEMBER_FETCH.test(r.path))
    expect(posts[0]?.body.commit).toEqual([{ topic: 't', partition: 0, offset: 3 }])
    expect(broker.count('POST', /^\/v1\/groups\/g\/offsets$/)).toBe(0)
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(3)
  })

  test('an awaited commit() goes out on its own and resolves once stored', async () => {
    fill('t', 1, 2)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 })
    for await (const record of consumer) {
      await consumer.commit(record)
      expect(broker.groups.get('g')?.committed.get('t/0')).toBe(record.offset + 1)
      if (record.offset === 1) break
    }
    expect(broker.count('POST', /^\/v1\/groups\/g\/offsets$/)).toBe(2)
    const body = broker.requests.find((r) => r.path === '/v1/groups/g/offsets')?.body
    expect(body).toMatchObject({
      memberId: 'm-1',
      generation: 1,
      offsets: [{ topic: 't', partition: 0, offset: 1 }],
    })
  })

  test('a failed commit is reported as commitFailed, never as an unhandled rejection, and goes out again with the next fetch', async () => {
    fill('t', 1, 2)
    const consumer = new Consumer(client, {
      group: 'g',
      topics: 't',
      maxWaitMs: 20,
      maxRecords: 1,
      retry: { maxAttempts: 1 },
    })
    const failures: Array<{ code: unknown; offsets: unknown }> = []
    const stored: unknown[] = []
    consumer.on('commitFailed', ({ error, offsets }) =>
      failures.push({ code: (error as Error & { code: string }).code, offsets }),
    )
    consumer.on('commit', ({ offsets }) => stored.push(offsets))
    const first = (await consumer.next()).value
    broker.inject('POST', /^\/v1\/groups\/g\/offsets$/, cutBeforeWrite)
    const unawaited = consumer.commit(first as ConsumerRecord)
    await expect(unawaited).rejects.toMatchObject({ code: 'BROKER_UNREACHABLE' })
    expect(failures).toEqual([
      { code: 'BROKER_UNREACHABLE', offsets: [{ topic: 't', partition: 0, offset: 1 }] },
    ])
    expect(broker.groups.get('g')?.committed.get('t/0')).toBeUndefined()
    // The offsets stayed queued: the next fetch (POST form) carries them.
    const second = await consumer.next()
    expect(second.value?.offset).toBe(1)
    const post = broker.requests.find((r) => r.method === 'POST' && MEMBER_FETCH.test(r.path))
    expect(post?.body.commit).toEqual([{ topic: 't', partition: 0, offset: 1 }])
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(1)
    expect(stored).toEqual([[{ topic: 't', partition: 0, offset: 1 }]])
    await consumer.close()
  })

  test('commit() with no argument commits everything handed out so far', async () => {
    fill('t', 2, 2)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 })
    await take({ [Symbol.asyncIterator]: () => ({ next: () => consumer.next() }) }, 4)
    await consumer.commit()
    const committed = broker.groups.get('g')?.committed
    expect(committed?.get('t/0')).toBe(2)
    expect(committed?.get('t/1')).toBe(2)
    await consumer.close()
  })

  test("autoCommit is the broker's auto ack: the member joins with it and sends no commits", async () => {
    fill('t', 1, 5)
    const consumer = new Consumer(client, { group: 'g', topics: 't', autoCommit: true, maxWaitMs: 20 })
    const [first] = await take(consumer, 1)
    expect(first?.offset).toBe(0)
    expect(broker.requests.find((r) => r.path === '/v1/groups/g/members')?.body).toMatchObject({
      autoCommit: true,
    })
    // The whole batch counts as acked once handed out, though the application took one record.
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(5)
    expect(broker.count('POST', /^\/v1\/groups\/g\/offsets$/)).toBe(0)
  })

  test('without commits nothing is stored, so a new member reads the same records again', async () => {
    fill('t', 1, 3)
    await take(new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 }), 3)
    const again = await take(new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 }), 3)
    expect(again.map((r) => r.offset)).toEqual([0, 1, 2])
  })
})

describe('membership', () => {
  test('a second member takes partitions; the first learns it by heartbeat and drops them', async () => {
    fill('t', 2, 0)
    const revoked: TopicPartition[][] = []
    const first = new Consumer(client, {
      group: 'g',
      topics: 't',
      heartbeatIntervalMs: 20,
      maxWaitMs: 20,
      onRevoke: (p) => void revoked.push(p),
    })
    await first.connect()
    expect(first.assignments).toHaveLength(2)
    const second = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 })
    await second.connect()
    for (let i = 0; i < 50 && first.assignments.length !== 1; i++) await delay(10)
    expect(first.assignments).toHaveLength(1)
    expect(second.assignments).toHaveLength(1)
    expect(first.assignments[0]?.partition).not.toBe(second.assignments[0]?.partition)
    expect(revoked).toHaveLength(1)
    expect(first.generation).toBe(2)
    await Promise.all([first.close(), second.close()])
  })

  test('a commit for a partition lost in a rebalance is left to the new owner', async () => {
    fill('t', 2, 1)
    const first = new Consumer(client, { group: 'g', topics: 't', heartbeatIntervalMs: 20, maxWaitMs: 20 })
    const got = [(await first.next()).value, (await first.next()).value] as ConsumerRecord[]
    const second = new Consumer(client, { group: 'g', topics: 't' })
    await second.connect()
    for (let i = 0; i < 50 && first.assignments.length !== 1; i++) await delay(10)
    const lost = got.find((r) => r.partition === second.assignments[0]?.partition) as ConsumerRecord
    const kept = got.find((r) => r !== lost) as ConsumerRecord
    await Promise.all([first.commit(lost), first.commit(kept)])
    const committed = broker.groups.get('g')?.committed
    expect(committed?.get(`t/${lost.partition}`)).toBeUndefined()
    expect(committed?.get(`t/${kept.partition}`)).toBe(1)
    await Promise.all([first.close(), second.close()])
  })

  test('a member the broker forgot joins again and keeps reading', async () => {
    fill('t', 1, 1)
    const consumer = new Consumer(client, {
      group: 'g',
      topics: 't',
      maxWaitMs: 20,
      heartbeatIntervalMs: 10_000,
    })
    const [one] = await take({ [Symbol.asyncIterator]: () => ({ next: () => consumer.next() }) }, 1)
    await consumer.commit(one as ConsumerRecord)
    broker.groups.get('g')?.members.clear()
    broker.write('t', { records: [{ value: 'after', partition: 0 }] })
    const next = await consumer.next()
    expect(next.value?.value).toBe('after')
    expect(consumer.memberId).toBe('m-2')
    await consumer.close()
  })

  test('a commit refused by a coordinator that forgot the member (it moved) is made after the member joins again', async () => {
    fill('t', 2, 1)
    const consumer = new Consumer(client, {
      group: 'g',
      topics: 't',
      maxWaitMs: 20,
      heartbeatIntervalMs: 10_000,
    })
    const failures: unknown[] = []
    consumer.on('commitFailed', (e) => failures.push(e))
    const got = await take({ [Symbol.asyncIterator]: () => ({ next: () => consumer.next() }) }, 2)
    expect(got).toHaveLength(2)
    // A new coordinator: the committed offsets are there, the members are not.
    broker.groups.get('g')?.members.clear()
    await consumer.commit()
    expect(consumer.memberId).toBe('m-2')
    const committed = broker.groups.get('g')?.committed
    expect([committed?.get('t/0'), committed?.get('t/1')]).toEqual([1, 1])
    expect(failures).toEqual([])
    await consumer.close()
  })

  test('joining again names the partitions held (owned); a broker that refuses the field is joined without it', async () => {
    fill('t', 2, 1)
    const consumer = new Consumer(client, {
      group: 'g',
      topics: 't',
      maxWaitMs: 20,
      heartbeatIntervalMs: 10_000,
    })
    await consumer.connect()
    broker.groups.get('g')?.members.clear()
    broker.inject('POST', /^\/v1\/groups\/g\/members$/, (_req, reply) => {
      void fail(reply, 400, 'INVALID_REQUEST', 'body must NOT have additional properties')
      return true
    })
    await consumer.commit([{ topic: 't', partition: 0, offset: 1 }])
    const joins = broker.requests.filter((r) => r.method === 'POST' && r.path === '/v1/groups/g/members')
    expect(joins.map((r) => r.body.owned?.length ?? 0)).toEqual([0, 2, 0])
    expect(consumer.memberId).toBe('m-2')
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(1)
    await consumer.close()
  })

  test('after such a rejoin, a commit of a partition now another member’s rejects (STALE_GENERATION); the kept one is made', async () => {
    fill('t', 2, 1)
    const first = new Consumer(client, {
      group: 'g',
      topics: 't',
      maxWaitMs: 20,
      heartbeatIntervalMs: 10_000,
    })
    const got = (await take(
      { [Symbol.asyncIterator]: () => ({ next: () => first.next() }) },
      2,
    )) as ConsumerRecord[]
    broker.groups.get('g')?.members.clear()
    // The other member joined the new coordinator first, so the two split the partitions.
    const second = new Consumer(client, { group: 'g', topics: 't', heartbeatIntervalMs: 10_000 })
    await second.connect()
    const results = await Promise.allSettled(got.map((r) => first.commit(r)))
    expect(first.assignments).toHaveLength(1)
    const keptPartition = first.assignments[0]?.partition
    const committed = broker.groups.get('g')?.committed
    for (const [i, r] of got.entries()) {
      const result = results[i]
      if (r.partition === keptPartition) {
        expect(result?.status).toBe('fulfilled')
        expect(committed?.get(`t/${r.partition}`)).toBe(1)
      } else {
        expect(result?.status).toBe('rejected')
        expect((result as PromiseRejectedResult).reason.code).toBe('STALE_GENERATION')
        expect(committed?.get(`t/${r.partition}`)).toBeUndefined()
      }
    }
    await Promise.all([first.close(), second.close()])
  })

  test('close() aborts a long poll and leaves the group at once', async () => {
    fill('t', 1, 0)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 10_000 })
    const pending = consumer.next()
    await delay(50)
    const started = Date.now()
    await consumer.close()
    expect(Date.now() - started).toBeLessThan(1_000)
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
    expect(broker.count('DELETE', /^\/v1\/groups\/g\/members\/m-1$/)).toBe(1)
    expect(broker.groups.get('g')?.members.size).toBe(0)
  })

  test('close() commits what was queued before leaving', async () => {
    fill('t', 1, 3)
    const consumer = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 })
    const first = await consumer.next()
    void consumer.commit(first.value as ConsumerRecord).catch(() => undefined)
    await consumer.close()
    expect(broker.groups.get('g')?.committed.get('t/0')).toBe(1)
    const order = broker.requests.map((r) => `${r.method} ${r.path}`)
    expect(order.indexOf('POST /v1/groups/g/offsets')).toBeLessThan(
      order.indexOf('DELETE /v1/groups/g/members/m-1'),
    )
  })
})
