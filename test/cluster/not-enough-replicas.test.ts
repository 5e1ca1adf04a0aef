/**
 * Contract: with replication factor 3 and the default minInsyncReplicas (2), when two of the three
 * brokers are down, acks=all is refused with 503 NOT_ENOUGH_REPLICAS and nothing is confirmed:
 * writes already waiting when the followers died are refused once the ISR shrinks (the check runs
 * again after the write), later ones up front. acks=1 still works. When a follower returns and
 * catches up, acks=all is confirmed again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  createTopic,
  describePartition,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const TOPIC = 'min-isr'

describe('two of three brokers down', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--ack-timeout-ms', '30000'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('acks=all gets NOT_ENOUGH_REPLICAS and nothing is confirmed', async () => {
    const url = cluster.advertised(1)
    await createTopic(url, { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(url, TOPIC, 0)
    const leaderUrl = cluster.advertised(leader)
    const produce = (acks: 1 | 'all', n: number) =>
      jsonRequest(`${leaderUrl}/v1/topics/${TOPIC}/partitions/0/records`, 'POST', {
        records: [{ value: n }],
        acks,
      })
    expect((await produceRetrying(leaderUrl, TOPIC, 0, [0])).status).toBe(200)

    const followers = cluster.ids.filter((id) => id !== leader)
    await Promise.all(followers.map((id) => cluster.broker(id).kill('SIGKILL')))

    // Writes sent right away wait for the ISR; once the controller drops the dead followers they are
    // refused after the write, and later ones before it. None may be confirmed.
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => produce('all', 100 + i)))
    await waitUntil(
      async () => (await describePartition(leaderUrl, TOPIC, 0)).isr.length === 1,
      15_000,
      'the ISR to shrink to the leader',
    )
    for (let i = 0; i < 5; i++) answers.push(await produce('all', 200 + i))
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body)).toBe(503)
      expect(a.body.error.code).toBe('NOT_ENOUGH_REPLICAS')
    }
    const one = await produce(1, 300)
    expect(one.status).toBe(200)
    expect(one.body.durability).not.toBe('replicated')

    // One follower back: it catches up, rejoins, and acks=all is confirmed again.
    await cluster.restart(followers[0] as number)
    await waitUntil(
      async () => (await describePartition(leaderUrl, TOPIC, 0)).isr.length === 2,
      30_000,
      'a follower to rejoin the ISR',
    )
    const again = await produceRetrying(leaderUrl, TOPIC, 0, [400])
    expect(again.status, JSON.stringify(again.body)).toBe(200)
    expect(again.body.durability).toBe('replicated')
  })
})
