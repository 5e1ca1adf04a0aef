/**
 * GET /v1/console/stats on a real broker: the ring samples every 5 s, so after a produce and a
 * fetch some sample shows the topic's rates; every sample's rates over the whole run add up to the
 * records produced and fetched; a bad range is a 400 in the error envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RateSample } from '../../../src/metrics/stats-ring.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { waitUntil } from '../../helpers/cluster.js'
import { jsonRequest as json } from '../../helpers/http.js'

let broker: BrokerProcess
beforeAll(async () => {
  broker = await startBroker()
})
afterAll(async () => {
  await broker?.stop()
})

describe('GET /v1/console/stats', () => {
  it('shows produce and fetch rates per topic that add up to the records moved', async () => {
    const { url } = broker
    expect((await json(`${url}/v1/topics`, 'POST', { name: 'rated', partitions: 1 })).status).toBe(201)
    const records = Array.from({ length: 40 }, (_, i) => ({ value: `v${i}` }))
    expect((await json(`${url}/v1/topics/rated/records`, 'POST', { records })).status).toBe(200)
    const fetched = await json(`${url}/v1/topics/rated/partitions/0/records?offset=10&maxRecords=25`, 'GET')
    expect(fetched.body.records).toHaveLength(25)

    // Wait until a sample taken after both requests exists (one every 5 s).
    const after = Date.now()
    const samples = await waitUntil(
      async () => {
        const res = await json(`${url}/v1/console/stats?minutes=5`, 'GET')
        expect(res.status).toBe(200)
        expect(res.body.intervalMs).toBe(5000)
        const list = res.body.samples as RateSample[]
        return list.some((s) => s.t >= after) ? list : undefined
      },
      20_000,
      'a sample after the produce',
    )
    // Rate × interval, summed over every sample, gives back the counts.
    const moved = (field: 'produceRecords' | 'fetchRecords') =>
      samples.reduce((sum, s) => sum + (s.topics.rated?.[field] ?? 0) * s.seconds, 0)
    expect(samples.some((s) => (s.topics.rated?.produceRecords ?? 0) > 0)).toBe(true)
    expect(Math.round(moved('produceRecords'))).toBe(40)
    expect(Math.round(moved('fetchRecords'))).toBe(25)
    for (const s of samples) expect(s.alarms).toEqual({ memory: false, disk: false })
  })

  it('refuses a range outside 1…60 minutes with 400 INVALID_REQUEST', async () => {
    for (const minutes of ['0', '61', 'abc']) {
      const res = await json(`${broker.url}/v1/console/stats?minutes=${minutes}`, 'GET')
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('INVALID_REQUEST')
    }
  })
})
