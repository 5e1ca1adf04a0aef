/**
 * Contract: a follower killed with SIGKILL leaves the ISR (its lease lapses and the controller drops
 * it), acks=all writes go on with the two remaining replicas, and when the follower restarts on its
 * data directory it truncates nothing it should keep, catches up, and the leader puts it back in the
 * ISR; its log is then byte-identical to the leader's up to the high watermark.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  bytesBelow,
  createTopic,
  describePartition,
  logBytes,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'

const TOPIC = 'follower-restart'

async function produceAll(url: string, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += 10) {
    const values = Array.from({ length: Math.min(10, from + count - i) }, (_, k) => ({ n: i + k }))
    const res = await produceRetrying(url, TOPIC, 0, values, { retryMs: 30_000 })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.durability).toBe('replicated')
  }
}

describe('a killed follower', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('restarts, catches up and rejoins the ISR', async () => {
    const url = cluster.advertised(1)
    await createTopic(url, { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(url, TOPIC, 0)
    const leaderUrl = cluster.advertised(leader)
    const follower = cluster.ids.find((id) => id !== leader) as number
    await produceAll(leaderUrl, 0, 100)

    await cluster.broker(follower).kill('SIGKILL')
    // Writes go on: the first ones wait until the controller drops the dead follower from the ISR.
    await produceAll(leaderUrl, 100, 200)
    const shrunk = await describePartition(leaderUrl, TOPIC, 0)
    expect(shrunk.isr).not.toContain(follower)

    await cluster.restart(follower)
    const rejoined = await waitUntil(
      async () => {
        const p = await describePartition(leaderUrl, TOPIC, 0)
        return p.isr.includes(follower) ? p : undefined
      },
      30_000,
      `broker ${follower} back in the ISR`,
    )
    expect(rejoined.leader).toBe(leader)
    await produceAll(leaderUrl, 300, 20)

    const hw = await waitUntil(
      async () => {
        const l = await describePartition(leaderUrl, TOPIC, 0)
        const f = await describePartition(cluster.advertised(follower), TOPIC, 0)
        return l.highWatermark === 320 && f.logEndOffset === 320 ? l.highWatermark : undefined
      },
      20_000,
      'the follower to hold every record',
    )
    const leaderBytes = bytesBelow(logBytes(cluster.broker(leader).dataDir, TOPIC, 0), hw)
    const followerBytes = bytesBelow(logBytes(cluster.broker(follower).dataDir, TOPIC, 0), hw)
    expect(followerBytes.length).toBeGreaterThan(0)
    expect(followerBytes.equals(leaderBytes)).toBe(true)
  })
})
