/**
 * A group member waiting at the end of the log is answered from the records the partition's
 * thread pushes with the high watermark (src/workers/tail-cache.ts), not by another read from
 * that thread. With `--workers 1`: long polls parked at the tail while single records, small
 * batches, and a batch too large to push (> 64 KiB) are produced; every record arrives once, in
 * order, with its bytes, and maxRecords / maxBytes hold on the pushed records as on the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { msgpackRequest as mp } from '../../helpers/http.js'
import { createTopic, fetchRecords, join, unique } from './group-helpers.js'

let broker: BrokerProcess
beforeAll(async () => {
  broker = await startBroker({ args: ['--workers', '1'] })
})
afterAll(async () => {
  await broker?.stop()
})

async function produce(topic: string, values: Buffer[]): Promise<void> {
  const res = await mp(`${broker.url}/v1/topics/${topic}/partitions/0/records`, 'POST', {
    records: values.map((value) => ({ value })),
    acks: 'all',
  })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
}

const value = (i: number, size = 16) => Buffer.concat([Buffer.from(`v${i}:`), Buffer.alloc(size, i % 251)])

describe('group reads at the tail', () => {
  it('delivers every record once, in order, with its bytes, while the member waits at the end', async () => {
    const topic = await createTopic(broker.url, 1, 'tail')
    const group = unique('tail-group')
    const { memberId } = await join(broker.url, group, [topic])
    expect((await fetchRecords(broker.url, group, memberId, { maxWaitMs: 0 })).records).toEqual([])

    const sent: Buffer[] = []
    const received: Array<{ offset: number; value: Buffer }> = []
    const plan = [
      ...Array.from({ length: 60 }, () => 1), // single records
      ...Array.from({ length: 20 }, () => 7), // small batches
      1,
      1,
    ]
    for (const [step, count] of plan.entries()) {
      // The member parks first, so the records become readable while it waits at the tail.
      const parked = fetchRecords(broker.url, group, memberId, { maxWaitMs: 5000 })
      await new Promise((r) => setTimeout(r, 5))
      const values = Array.from({ length: count }, (_, k) => value(sent.length + k))
      sent.push(...values)
      await produce(topic, values)
      let got = (await parked).records
      // A batch may arrive over two polls if the first was answered between its records' fsyncs.
      while (received.length + got.length < sent.length) {
        got = [...got, ...(await fetchRecords(broker.url, group, memberId, { maxWaitMs: 5000 })).records]
      }
      for (const r of got) received.push({ offset: r.offset, value: Buffer.from(r.value as Uint8Array) })
      expect(received.length, `after step ${step}`).toBe(sent.length)
    }
    expect(received.map((r) => r.offset)).toEqual(sent.map((_, i) => i))
    expect(received.map((r) => r.value)).toEqual(sent)
  })

  it('keeps maxRecords and maxBytes on pushed records, and reads a too-large batch from the log', async () => {
    const topic = await createTopic(broker.url, 1, 'tail-limits')
    const group = unique('tail-limits')
    const { memberId } = await join(broker.url, group, [topic])
    await fetchRecords(broker.url, group, memberId, { maxWaitMs: 0 })
    const parked = fetchRecords(broker.url, group, memberId, { maxWaitMs: 5000, maxRecords: 3 })
    await new Promise((r) => setTimeout(r, 5))
    const small = Array.from({ length: 10 }, (_, i) => value(i, 100))
    await produce(topic, small)
    expect((await parked).records.map((r) => r.offset)).toEqual([0, 1, 2])
    // maxBytes below one record: still one record (the first always goes), then the next ones.
    const one = await fetchRecords(broker.url, group, memberId, { maxBytes: 1 })
    expect(one.records.map((r) => r.offset)).toEqual([3])
    const rest = await fetchRecords(broker.url, group, memberId, { maxRecords: 100 })
    expect(rest.records.map((r) => [r.offset, Buffer.from(r.value as Uint8Array)])).toEqual(
      small.slice(4).map((v, i) => [i + 4, v]),
    )
    // 100 records of 1 KiB: over the push limit, read from the log as before.
    const parked2 = fetchRecords(broker.url, group, memberId, { maxWaitMs: 5000, maxRecords: 1000 })
    await new Promise((r) => setTimeout(r, 5))
    const big = Array.from({ length: 100 }, (_, i) => value(10 + i, 1024))
    await produce(topic, big)
    const got = (await parked2).records
    const more =
      got.length < 100 ? (await fetchRecords(broker.url, group, memberId, { maxRecords: 1000 })).records : []
    const all = [...got, ...more]
    expect(all.map((r) => r.offset)).toEqual(big.map((_, i) => 10 + i))
    expect(all.map((r) => Buffer.from(r.value as Uint8Array))).toEqual(big)
  })
})
