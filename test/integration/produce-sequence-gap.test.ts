/**
 * The two sequence rules of an idempotent produce (docs/http-api.md, "Idempotent produce"), against
 * a real broker process, with partitions in the HTTP thread and in a worker thread: on the
 * partition route a producer known to the partition must continue at its last sequence + 1, and
 * a batch that skips ahead is refused with 409 OUT_OF_ORDER_SEQUENCE and writes nothing; on the
 * topic route the request's sequence is spread as sequence + index over the partitions and needs
 * only to grow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../helpers/broker-process.js'
import { jsonRequest as json } from '../helpers/http.js'

describe.each([
  ['in the HTTP thread', '0'],
  ['in a worker thread', '1'],
])('idempotent produce sequences, partitions %s', (_where, workers) => {
  let broker: BrokerProcess
  let n = 0

  beforeAll(async () => {
    broker = await startBroker({ args: ['--workers', workers] })
  })
  afterAll(async () => {
    await broker?.stop()
  })

  async function createTopic(partitions: number): Promise<string> {
    const name = `seq-${workers}-${process.pid}-${++n}`
    const res = await json(`${broker.url}/v1/topics`, 'POST', { name, partitions })
    expect(res.status).toBe(201)
    return name
  }

  const logEnd = async (topic: string, partition: number): Promise<number> =>
    (await json(`${broker.url}/v1/topics/${topic}/partitions/${partition}/offsets?at=latest`, 'GET')).body
      .offset

  const values = async (topic: string, partition: number): Promise<unknown[]> => {
    const res = await json(
      `${broker.url}/v1/topics/${topic}/partitions/${partition}/records?offset=0&maxRecords=100`,
      'GET',
    )
    return res.body.records.map((r: { value: unknown }) => r.value)
  }

  it('partition route: a known producer skipping past last + 1 gets 409 OUT_OF_ORDER_SEQUENCE and writes nothing; last + 1 then lands', async () => {
    const topic = await createTopic(1)
    const url = `${broker.url}/v1/topics/${topic}/partitions/0/records`
    const first = await json(url, 'POST', {
      records: [0, 1, 2, 3, 4].map((value) => ({ value })),
      producerId: 4242,
      sequence: 0,
    })
    expect(first.status).toBe(200)
    expect(first.body.offsets).toEqual([0, 1, 2, 3, 4].map((offset) => ({ partition: 0, offset })))

    const ahead = await json(url, 'POST', { records: [{ value: 'ahead' }], producerId: 4242, sequence: 7 })
    expect(ahead.status).toBe(409)
    expect(ahead.body.error).toMatchObject({
      code: 'OUT_OF_ORDER_SEQUENCE',
      details: { producerId: 4242, baseSequence: 7, lastSequence: 4, expectedSequence: 5 },
    })
    expect(await logEnd(topic, 0)).toBe(5)

    const next = await json(url, 'POST', {
      records: [{ value: 5 }, { value: 6 }],
      producerId: 4242,
      sequence: 5,
    })
    expect(next.status).toBe(200)
    expect(next.body.offsets).toEqual([
      { partition: 0, offset: 5 },
      { partition: 0, offset: 6 },
    ])
    // A retry of a written batch is still answered with its offsets, and an older one refused.
    const retry = await json(url, 'POST', {
      records: [{ value: 5 }, { value: 6 }],
      producerId: 4242,
      sequence: 5,
    })
    expect(retry.body.offsets).toEqual(next.body.offsets)
    const stale = await json(url, 'POST', { records: [{ value: 'old' }], producerId: 4242, sequence: 3 })
    expect(stale.status).toBe(409)
    expect(stale.body.error.code).toBe('DUPLICATE_SEQUENCE')
    expect(await values(topic, 0)).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it('partition route: a producer unknown to the partition may start at any sequence', async () => {
    const topic = await createTopic(2)
    const url = (p: number) => `${broker.url}/v1/topics/${topic}/partitions/${p}/records`
    await json(url(0), 'POST', { records: [{ value: 'a' }], producerId: 99, sequence: 0 })
    const elsewhere = await json(url(1), 'POST', {
      records: [{ value: 'b' }],
      producerId: 99,
      sequence: 1000,
    })
    expect(elsewhere.status).toBe(200)
    expect(elsewhere.body.offsets).toEqual([{ partition: 1, offset: 0 }])
    const other = await json(url(0), 'POST', { records: [{ value: 'c' }], producerId: 100, sequence: 50 })
    expect(other.body.offsets).toEqual([{ partition: 0, offset: 1 }])
    expect(await values(topic, 0)).toEqual(['a', 'c'])
    expect(await values(topic, 1)).toEqual(['b'])
  })

  it('topic route: sequence + index spread over partitions needs only to grow, and a retry lands once', async () => {
    const topic = await createTopic(3)
    const url = `${broker.url}/v1/topics/${topic}/records`
    const records = (tag: string) =>
      [0, 1, 2, 3, 4, 5].map((i) => ({ value: `${tag}${i}`, partition: i % 3 }))
    const body = { records: records('a'), producerId: 555, sequence: 0 }
    const first = await json(url, 'POST', body)
    expect(first.status).toBe(200)
    const retry = await json(url, 'POST', body)
    expect(retry.body.offsets).toEqual(first.body.offsets)
    // Each partition's batch took sequence + its first index: 0..1, 1..2, 2..3. Sequence 6 puts
    // them at 6, 7 and 8, past each last + 1, and is taken all the same.
    const next = await json(url, 'POST', { records: records('b'), producerId: 555, sequence: 6 })
    expect(next.status).toBe(200)
    expect(next.body.offsets).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => ({ partition: i % 3, offset: 2 + Math.floor(i / 3) })),
    )
    expect(await values(topic, 0)).toEqual(['a0', 'a3', 'b0', 'b3'])
    expect(await values(topic, 1)).toEqual(['a1', 'a4', 'b1', 'b4'])
    expect(await values(topic, 2)).toEqual(['a2', 'a5', 'b2', 'b5'])
  })
})
