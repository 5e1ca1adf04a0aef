/**
 * Contract: a consumer group's coordinator is the leader of the group's `__consumer_offsets`
 * partition, and the group's commits replicate like any data. A consumer (the client library)
 * reads and commits each record; its coordinator is killed with SIGKILL mid-way. The offsets
 * partition gets a new leader, which reloads the committed offsets from its replica; the consumer
 * follows NOT_LEADER to it, joins again and continues from its committed offsets:
 *   - nothing committed is delivered again (after the kill, every delivery on a partition is at or
 *     past the offset committed there before the kill);
 *   - nothing is skipped (every record of every partition is delivered);
 *   - at the end the group's committed offsets are the log ends.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { partitionForKey } from '../../src/broker/partition-placement.js'
import { BrokerClient } from '../../src/client/broker-client.js'
import { Consumer } from '../../src/client/consumer.js'
import { wirePackr } from '../../src/wire/record-codec.js'
import {
  createTopic,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { testCredentials } from '../helpers/http.js'

const TOPIC = 'group-events'
const GROUP = 'billing'
const PARTITIONS = 2
const PER_PARTITION = 150
const OFFSETS_PARTITIONS = 8

describe('a consumer group reading while its coordinator is killed', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('continues from its committed offsets: nothing committed again, nothing skipped', async () => {
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    await createTopic(urls[0] as string, { name: TOPIC, partitions: PARTITIONS, replicationFactor: 3 })
    for (let p = 0; p < PARTITIONS; p++) {
      const { leader } = await waitForLeader(urls[0] as string, TOPIC, p)
      for (let i = 0; i < PER_PARTITION; i += 50) {
        const values = Array.from({ length: 50 }, (_, k) => ({ p, i: i + k }))
        const res = await produceRetrying(cluster.advertised(leader), TOPIC, p, values)
        expect(res.status).toBe(200)
      }
    }
    const offsetsPartition = partitionForKey(wirePackr.pack(GROUP), OFFSETS_PARTITIONS)
    const { leader: coordinator } = await waitForLeader(
      urls[0] as string,
      '__consumer_offsets',
      offsetsPartition,
    )

    const client = new BrokerClient({
      urls,
      ...testCredentials(),
      retry: { maxElapsedMs: 60_000, maxAttempts: 40 },
    })
    const consumer = new Consumer(client, {
      group: GROUP,
      topics: [TOPIC],
      maxRecords: 20,
      sessionTimeoutMs: 6000,
    })
    const delivered: Array<{ partition: number; offset: number; afterKill: boolean }> = []
    const committed = new Map<number, number>()
    let committedAtKill: Map<number, number> | undefined
    let killed = false
    const seen = () => new Set(delivered.map((d) => `${d.partition}:${d.offset}`)).size

    const reading = (async () => {
      for await (const record of consumer) {
        delivered.push({ partition: record.partition, offset: record.offset, afterKill: killed })
        try {
          await consumer.commit(record)
          committed.set(record.partition, Math.max(committed.get(record.partition) ?? 0, record.offset + 1))
        } catch {
          // Not confirmed (the coordinator died under it): the record may come again, as it should.
        }
        if (!killed && delivered.length >= 100) {
          killed = true
          committedAtKill = new Map(committed)
          await cluster.broker(coordinator).kill('SIGKILL')
        }
        if (seen() === PARTITIONS * PER_PARTITION) break
      }
    })()
    await waitUntil(async () => seen() === PARTITIONS * PER_PARTITION, 90_000, 'every record delivered', 200)
    await reading
    await consumer.close().catch(() => undefined)

    expect(killed).toBe(true)
    expect(delivered.filter((d) => d.afterKill).length).toBeGreaterThan(0)
    const { leader: successor } = await waitForLeader(
      cluster.advertised(cluster.ids.find((id) => id !== coordinator) as number),
      '__consumer_offsets',
      offsetsPartition,
    )
    expect(successor).not.toBe(coordinator)
    // Nothing skipped.
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = new Set(delivered.filter((d) => d.partition === p).map((d) => d.offset))
      expect(offsets.size).toBe(PER_PARTITION)
    }
    // Nothing committed delivered again.
    for (const d of delivered.filter((x) => x.afterKill)) {
      expect(d.offset, `partition ${d.partition} offset ${d.offset}`).toBeGreaterThanOrEqual(
        committedAtKill?.get(d.partition) ?? 0,
      )
    }
    // The new coordinator holds the final commits.
    const final = await client.groupOffsets(GROUP)
    for (let p = 0; p < PARTITIONS; p++) {
      expect(final.find((o) => o.topic === TOPIC && o.partition === p)?.committed).toBe(PER_PARTITION)
    }
    await client.close()
  })
})
