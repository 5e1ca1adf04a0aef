/**
 * Contract: a leader paused (SIGSTOP) past its lease loses its leadership to an in-sync follower
 * with a higher epoch. When it is resumed (SIGCONT) it confirms nothing — an acks=all write that
 * was waiting when it stopped is refused, new ones are NOT_LEADER — then it truncates the tail the
 * new leader never had (found by leader epoch), follows the new leader and rejoins the ISR, and all
 * three replicas end byte-identical up to the high watermark.
 *
 * To give the old leader a divergent tail deterministically, every broker advertises a TCP proxy;
 * pausing the leader's proxy cuts its followers off while the test still writes to the leader
 * directly (acks=1) — records the followers never receive and the new leader overwrites.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  bytesBelow,
  createTopic,
  describePartition,
  logBytes,
  produceRetrying,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const TOPIC = 'paused-leader'

describe('a leader paused past its lease', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({
      brokers: 3,
      proxied: [1, 2, 3],
      // The cut-off followers must stay in the ISR, so that one of them can be elected; the resumed
      // leader must not get its leadership back (preferred leader) while the test reads the new one.
      args: [
        '--replica-lag-max-ms',
        '120000',
        '--ack-timeout-ms',
        '60000',
        '--leader-rebalance-interval-ms',
        '0',
      ],
    })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('confirms nothing after losing leadership, truncates its divergent tail, rejoins, converges', async () => {
    await createTopic(cluster.advertised(1), { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader: old } = await waitForLeader(cluster.advertised(1), TOPIC, 0)
    const direct = cluster.broker(old).url
    const produce = (url: string, acks: 1 | 'all', values: unknown[]) =>
      jsonRequest(`${url}/v1/topics/${TOPIC}/partitions/0/records`, 'POST', {
        records: values.map((value) => ({ value })),
        acks,
      })

    for (let i = 0; i < 10; i++) expect((await produceRetrying(direct, TOPIC, 0, [`a${i}`])).status).toBe(200)

    // Cut the followers off, then give the leader a tail they will never see.
    cluster.proxy(old)?.pause()
    const tail = await produceRetrying(direct, TOPIC, 0, ['x0', 'x1', 'x2', 'x3', 'x4'], { acks: 1 })
    expect(tail.status).toBe(200)
    expect(tail.body.durability).not.toBe('replicated')
    const pending = produce(direct, 'all', ['pending'])

    await cluster.broker(old).kill('SIGSTOP')
    const survivor = cluster.ids.find((id) => id !== old) as number
    const next = await waitForLeader(cluster.advertised(survivor), TOPIC, 0, { not: old, timeoutMs: 30_000 })
    const newLeaderUrl = cluster.advertised(next.leader)
    for (let i = 0; i < 3; i++)
      expect((await produceRetrying(newLeaderUrl, TOPIC, 0, [`b${i}`])).status).toBe(200)

    await cluster.broker(old).kill('SIGCONT')
    cluster.proxy(old)?.resume()

    // Nothing confirmed after losing leadership: neither the write that was waiting nor new ones.
    const waited = await pending
    expect(waited.status, JSON.stringify(waited.body)).not.toBe(200)
    expect(['NOT_LEADER', 'ACK_TIMEOUT']).toContain(waited.body.error.code)
    const late = await produce(direct, 'all', ['late'])
    expect(late.status, JSON.stringify(late.body)).toBe(421)
    expect(late.body.error.code).toBe('NOT_LEADER')

    // It follows the new leader and is back in the ISR; the three replicas hold the same records.
    await waitUntil(
      async () => (await describePartition(newLeaderUrl, TOPIC, 0)).isr.includes(old),
      30_000,
      `broker ${old} back in the ISR`,
    )
    const values = (await readAll(newLeaderUrl, TOPIC, 0)).map((r) => r.value)
    expect(values).toEqual([...Array.from({ length: 10 }, (_, i) => `a${i}`), 'b0', 'b1', 'b2'])
    const hw = await waitUntil(
      async () => {
        const views = await Promise.all(
          cluster.ids.map((id) => describePartition(cluster.broker(id).url, TOPIC, 0)),
        )
        return views.every((v) => v.logEndOffset === 13 && v.highWatermark === 13) ? 13 : undefined
      },
      20_000,
      'all replicas at the same end and high watermark',
    )
    const logs = cluster.ids.map((id) => bytesBelow(logBytes(cluster.broker(id).dataDir, TOPIC, 0), hw))
    const reference = logs[0] as Buffer
    for (const log of logs) expect(log.equals(reference)).toBe(true)
    const oldView = await describePartition(direct, TOPIC, 0)
    expect(oldView.leader).toBe(next.leader)
  })
})
