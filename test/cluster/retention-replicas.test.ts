/**
 * Contract: retention runs on the leader only; followers delete the segments wholly below the log
 * start the leader sends with every replica fetch, so every replica starts where the leader starts.
 * A follower whose log ends below the leader's log start (it was down while retention deleted what
 * it needed) empties its log, continues at the leader's log start, catches up and rejoins the ISR,
 * and its log is then byte-identical to the leader's.
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
import { jsonRequest } from '../helpers/http.js'

const TOPIC = 'retention-replicas'
/** About 460 bytes per 10-record batch: two batches per 1 KiB segment, four segments kept. */
const PAD = 'x'.repeat(24)

async function produceAll(url: string, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += 10) {
    const values = Array.from({ length: Math.min(10, from + count - i) }, (_, k) => ({ n: i + k, pad: PAD }))
    const res = await produceRetrying(url, TOPIC, 0, values, { retryMs: 30_000 })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  }
}

async function logStartOf(url: string): Promise<number> {
  const res = await jsonRequest(`${url}/v1/topics/${TOPIC}`, 'GET')
  if (res.status !== 200) throw new Error(`describe on ${url}: ${res.status}`)
  return res.body.partitions[0].logStartOffset as number
}

describe('retention on a replicated partition', () => {
  let cluster: TestCluster
  let leader: number
  let leaderUrl: string

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--retention-check-interval-ms', '200'] })
    const url = cluster.advertised(1)
    await createTopic(url, {
      name: TOPIC,
      partitions: 1,
      replicationFactor: 3,
      config: { segmentBytes: 1024, retentionBytes: 2048 },
    })
    leader = (await waitForLeader(url, TOPIC, 0)).leader
    leaderUrl = cluster.advertised(leader)
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test("every replica's log start follows the leader's", async () => {
    await produceAll(leaderUrl, 0, 100)
    const start = await waitUntil(
      async () => {
        const first = await logStartOf(leaderUrl)
        // Stable across two retention passes: the leader deleted all it will.
        await new Promise((r) => setTimeout(r, 500))
        return first > 0 && first === (await logStartOf(leaderUrl)) ? first : undefined
      },
      20_000,
      'retention on the leader',
    )
    await waitUntil(
      async () => {
        const starts = await Promise.all(cluster.ids.map((id) => logStartOf(cluster.advertised(id))))
        return starts.every((s) => s === start)
      },
      20_000,
      `every replica to start at ${start}`,
    )
    for (const id of cluster.ids) expect(await logStartOf(cluster.advertised(id))).toBe(start)
  })

  test('a follower behind the log start empties its log, catches up and rejoins the ISR', async () => {
    const follower = cluster.ids.find((id) => id !== leader) as number
    await cluster.broker(follower).kill('SIGKILL')
    await produceAll(leaderUrl, 100, 200)
    const followerEnd = 100
    await waitUntil(
      async () => (await logStartOf(leaderUrl)) > followerEnd,
      20_000,
      `the leader's log start to pass ${followerEnd}`,
    )

    await cluster.restart(follower)
    await waitUntil(
      async () => (await describePartition(leaderUrl, TOPIC, 0)).isr.includes(follower),
      30_000,
      `broker ${follower} back in the ISR`,
    )
    await produceAll(leaderUrl, 300, 20)

    const { hw, start } = await waitUntil(
      async () => {
        const l = await describePartition(leaderUrl, TOPIC, 0)
        const f = await describePartition(cluster.advertised(follower), TOPIC, 0)
        const start = await logStartOf(leaderUrl)
        // Stable across two retention passes: the last records may still make the leader delete a
        // segment, and the bytes below are read from both logs one after the other.
        await new Promise((r) => setTimeout(r, 500))
        const settled = start === (await logStartOf(leaderUrl))
        const same = start === (await logStartOf(cluster.advertised(follower)))
        return l.highWatermark === 320 && f.logEndOffset === 320 && settled && same
          ? { hw: 320, start }
          : undefined
      },
      20_000,
      'the follower to hold every record from the leader log start on',
    )
    expect(start).toBeGreaterThan(followerEnd)
    const leaderBytes = bytesBelow(logBytes(cluster.broker(leader).dataDir, TOPIC, 0), hw)
    const followerBytes = bytesBelow(logBytes(cluster.broker(follower).dataDir, TOPIC, 0), hw)
    expect(leaderBytes.readBigInt64BE(0)).toBe(BigInt(start))
    expect(followerBytes.readBigInt64BE(0)).toBe(BigInt(start))
    expect(followerBytes.length).toBe(leaderBytes.length)
    expect(followerBytes.length).toBeGreaterThan(0)
    expect(followerBytes.equals(leaderBytes)).toBe(true)
  })
})
