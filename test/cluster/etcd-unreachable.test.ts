/**
 * Contract (README, "Run a 3-broker cluster on one machine", "When etcd is unreachable"): when etcd
 * goes away (killed here by PID), each broker stops trusting its lease once it may have lapsed
 * (TTL − margin after the last answered keepalive). From then on:
 *   - no write is accepted or confirmed: produce answers 421 NOT_LEADER, whatever the acks;
 *   - reads of committed data go on at the last leader (never past the high watermark);
 *   - /readyz answers 503 and says why.
 * When etcd is back (same data directory), the brokers renew or re-grant their leases, re-read the
 * cluster and take writes again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  createTopic,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const TOPIC = 'etcd-outage'

describe('etcd unreachable', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('writes stop, committed reads go on, /readyz says why; writes resume when etcd is back', async () => {
    await createTopic(cluster.advertised(1), { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(cluster.advertised(1), TOPIC, 0)
    const leaderUrl = cluster.advertised(leader)
    const produce = (url: string, acks: 1 | 'all', value: unknown) =>
      jsonRequest(`${url}/v1/topics/${TOPIC}/partitions/0/records`, 'POST', { records: [{ value }], acks })
    for (let i = 0; i < 10; i++) expect((await produceRetrying(leaderUrl, TOPIC, 0, [i])).status).toBe(200)

    await cluster.etcd.kill('SIGKILL')
    const notReady = await waitUntil(
      async () => {
        const res = await jsonRequest(`${leaderUrl}/readyz`, 'GET')
        return res.status === 503 ? res.body : undefined
      },
      15_000,
      '/readyz to report the lost lease',
    )
    expect(JSON.stringify(notReady.reasons)).toMatch(/etcd/)

    for (const acks of ['all', 1] as const) {
      const res = await produce(leaderUrl, acks, 'refused')
      expect(res.status, JSON.stringify(res.body)).toBe(421)
      expect(res.body.error.code).toBe('NOT_LEADER')
    }
    const read = await jsonRequest(
      `${leaderUrl}/v1/topics/${TOPIC}/partitions/0/records?offset=0&maxRecords=100`,
      'GET',
    )
    expect(read.status).toBe(200)
    expect(read.body.records.map((r: { value: unknown }) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(read.body.highWatermark).toBe(10)

    cluster.etcd = await cluster.etcd.restart()
    // One idempotent write, repeated (and following NOT_LEADER) until the cluster takes it.
    const res = await produceRetrying(leaderUrl, TOPIC, 0, ['after'], { retryMs: 60_000 })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const resumed = res.body
    expect(resumed.offsets[0].offset).toBe(10)
    expect(resumed.durability).toBe('replicated')
    await waitUntil(
      async () => (await jsonRequest(`${leaderUrl}/readyz`, 'GET')).status === 200,
      30_000,
      '/readyz to be 200 again',
    )
  })
})
