/**
 * Crash durability: every record confirmed with acks=all survives `kill -9` of the broker, with
 * its offset and exact bytes; offsets stay dense; the log takes new writes after restart.
 * Records in flight at the kill may or may not be there, but never half of a batch and never a gap.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../helpers/http.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
})

interface Confirmed {
  partition: number
  offset: number
  value: string
}

async function readAll(url: string, topic: string, partition: number) {
  const out: Array<{ offset: number; value: unknown; key: unknown }> = []
  let offset = 0
  for (let guard = 0; guard < 10_000; guard++) {
    const res = await mp(
      `${url}/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=1000`,
      'GET',
    )
    expect(res.status).toBe(200)
    if (res.body.records.length === 0) break
    out.push(...res.body.records)
    offset = res.body.nextOffset
  }
  return out
}

describe('kill -9 while producing with acks=all', () => {
  it('keeps every confirmed record, dense offsets, and accepts writes after restart', async () => {
    broker = await startBroker({ keepData: true })
    const topic = `crash-${process.pid}`
    const partitions = 3
    expect((await json(`${broker.url}/v1/topics`, 'POST', { name: topic, partitions })).status).toBe(201)

    const confirmed: Confirmed[] = []
    let stop = false
    const url = broker.url
    const producer = async (id: number) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const values = [0, 1, 2].map((j) => `p${id}-r${i}-${j}-${'v'.repeat(i % 50)}`)
        try {
          const res = await mp(`${url}/v1/topics/${topic}/records`, 'POST', {
            records: values.map((value) => ({ key: `${id}-${i}`, value })),
          })
          if (res.status !== 200) continue
          res.body.offsets.forEach((o: { partition: number; offset: number }, k: number) => {
            confirmed.push({ ...o, value: values[k] as string })
          })
        } catch {
          return // the broker died under us
        }
      }
    }
    const producers = Array.from({ length: 6 }, (_, id) => producer(id))
    await new Promise((r) => setTimeout(r, 1500))
    await broker.kill('SIGKILL')
    stop = true
    await Promise.all(producers)
    expect(confirmed.length).toBeGreaterThan(50)

    broker = await broker.restart()
    for (let p = 0; p < partitions; p++) {
      const records = await readAll(broker.url, topic, p)
      // Dense: offsets are exactly 0..n-1.
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i))
      const byOffset = new Map(records.map((r) => [r.offset, r.value]))
      const mine = confirmed.filter((c) => c.partition === p)
      for (const c of mine) expect(byOffset.get(c.offset)).toBe(c.value)
      // Never a partial batch: a request's three records share a key and land together.
      const perKey = new Map<unknown, number>()
      for (const r of records) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1)
      for (const count of perKey.values()) expect(count).toBe(3)
      const after = await json(`${broker.url}/v1/topics/${topic}/partitions/${p}/records`, 'POST', {
        records: [{ value: 'after-restart' }],
      })
      expect(after.body.offsets).toEqual([{ partition: p, offset: records.length }])
    }
  })

  it('finds everything again after a clean restart', async () => {
    broker = await startBroker({ keepData: true })
    const topic = `restart-${process.pid}`
    await json(`${broker.url}/v1/topics`, 'POST', {
      name: topic,
      partitions: 2,
      config: { segmentBytes: 4096 },
    })
    const values = Array.from({ length: 300 }, (_, i) => ({
      value: `record-${i}-${'z'.repeat(i % 40)}`,
      partition: i % 2,
    }))
    for (let i = 0; i < values.length; i += 50) {
      const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
        records: values.slice(i, i + 50),
      })
      expect(res.status).toBe(200)
    }
    broker = await broker.restart()
    const described = await json(`${broker.url}/v1/topics/${topic}`, 'GET')
    expect(described.body.config).toEqual({ segmentBytes: 4096 })
    for (let p = 0; p < 2; p++) {
      const records = await readAll(broker.url, topic, p)
      expect(records.map((r) => r.value)).toEqual(values.filter((v) => v.partition === p).map((v) => v.value))
    }
  })
})
