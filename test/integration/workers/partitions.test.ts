/**
 * A broker with 2 partition workers (`--workers 2`): records for 8 partitions land, each partition
 * in send order with dense offsets 0..n-1; the partitions are spread over both workers; a long poll
 * waiting in the HTTP thread is woken by the owning worker's append, before its deadline.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import { parsePromText, sample } from '../../unit/metrics/prom-text.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
})

async function readAll(url: string, topic: string, partition: number) {
  const out: Array<{ offset: number; value: unknown }> = []
  let offset = 0
  for (;;) {
    const res = await mp(
      `${url}/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=1000`,
      'GET',
    )
    expect(res.status).toBe(200)
    if (res.body.records.length === 0) return out
    out.push(...res.body.records)
    offset = res.body.nextOffset
  }
}

describe('--workers 2', () => {
  it('lands records for 8 partitions, each in order with dense offsets, on both workers', async () => {
    broker = await startBroker({ args: ['--workers', '2'] })
    const url = broker.url
    const topic = `workers-${process.pid}`
    const partitions = 8
    expect((await json(`${url}/v1/topics`, 'POST', { name: topic, partitions })).status).toBe(201)

    const sent = new Map<number, string[]>()
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        const values: string[] = []
        for (let i = 0; i < 25; i++) {
          const batch = [0, 1, 2, 3].map((k) => `p${p}-r${i}-${k}`)
          const res = await mp(`${url}/v1/topics/${topic}/partitions/${p}/records`, 'POST', {
            records: batch.map((value) => ({ value })),
          })
          expect(res.status).toBe(200)
          expect(res.body.durability).toBe('fsynced')
          expect(res.body.offsets.map((o: { offset: number }) => o.offset)).toEqual(
            batch.map((_, k) => values.length + k),
          )
          values.push(...batch)
        }
        sent.set(p, values)
      }),
    )
    for (let p = 0; p < partitions; p++) {
      const records = await readAll(url, topic, p)
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i))
      expect(records.map((r) => r.value)).toEqual(sent.get(p))
    }
    const metrics = parsePromText((await (await fetch(`${url}/metrics`)).text()) as string)
    // At least this topic's 4 partitions each (internal topics may add their own).
    expect(sample(metrics, 'strata_worker_partitions', { worker: '0' })).toBeGreaterThanOrEqual(4)
    expect(sample(metrics, 'strata_worker_partitions', { worker: '1' })).toBeGreaterThanOrEqual(4)
  })

  it('wakes a long poll with the owning worker’s append', async () => {
    broker = await startBroker({ args: ['--workers', '2'] })
    const url = broker.url
    const topic = `longpoll-${process.pid}`
    expect((await json(`${url}/v1/topics`, 'POST', { name: topic, partitions: 2 })).status).toBe(201)
    const started = Date.now()
    const poll = mp(`${url}/v1/topics/${topic}/partitions/1/records?offset=0&maxWaitMs=30000`, 'GET')
    await new Promise((r) => setTimeout(r, 300))
    const produced = await mp(`${url}/v1/topics/${topic}/partitions/1/records`, 'POST', {
      records: [{ value: 'wake' }],
    })
    expect(produced.status).toBe(200)
    const res = await poll
    expect(res.body.records.map((r: { value: unknown }) => r.value)).toEqual(['wake'])
    // Woken by the append, not by its 30 s deadline.
    expect(Date.now() - started).toBeLessThan(20_000)
  })
})
