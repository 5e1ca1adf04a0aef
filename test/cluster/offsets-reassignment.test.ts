/**
 * Contract: a `__consumer_offsets` partition can be reassigned like any other while its group
 * works. With offsets at replication factor 2, the group's offsets partition moves off the broker
 * that leads it (its coordinator) to [the other replica, the third broker]: the coordinator hands
 * over as a leaving leader does, the group follows its new coordinator, and a consumer that commits
 * each record before taking the next reads every record exactly once, in order, with no commit
 * refused; the commits end at the log end, and the old replica deletes its copy.
 */
import { existsSync } from 'node:fs'
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
import { partitionDir, reassign, waitForReplicas } from '../helpers/reassignments.js'

const TOPIC = 'ledger'
const GROUP = 'auditors'
const OFFSETS = '__consumer_offsets'
const OFFSETS_PARTITIONS = 8

describe('reassigning a __consumer_offsets partition', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--offsets-topic-replication-factor', '2'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('the group follows its offsets partition to new replicas; every record once, in order', async () => {
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    const url = urls[0] as string
    await createTopic(url, { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(url, TOPIC, 0)
    const write = async (from: number, count: number) => {
      const res = await produceRetrying(
        cluster.advertised(leader),
        TOPIC,
        0,
        Array.from({ length: count }, (_, i) => ({ seq: from + i })),
      )
      expect(res.status, JSON.stringify(res.body)).toBe(200)
    }
    await write(0, 100)

    const offsetsPartition = partitionForKey(wirePackr.pack(GROUP), OFFSETS_PARTITIONS)
    const before = await waitForLeader(url, OFFSETS, offsetsPartition)
    expect(before.replicas).toHaveLength(2)
    const [a, b] = before.replicas as [number, number]
    const c = cluster.ids.find((id) => id !== a && id !== b) as number

    const client = new BrokerClient({
      urls,
      ...testCredentials(),
      retry: { maxElapsedMs: 60_000, maxAttempts: 60 },
    })
    const consumer = new Consumer(client, { group: GROUP, topics: [TOPIC], maxRecords: 10 })
    const seen: number[] = []
    const commitErrors: unknown[] = []
    let moved = false
    const reading = (async () => {
      for await (const record of consumer) {
        seen.push((record.value as { seq: number }).seq)
        // Each record committed before the next is taken: none may come again.
        await consumer.commit(record).catch((err: unknown) => commitErrors.push(err))
        if (seen.length === 50 && !moved) {
          moved = true
          // a (the leader, so the coordinator) is dropped: c joins, then a hands over to b.
          await reassign(cluster.advertised(c), {
            partitions: [{ topic: OFFSETS, partition: offsetsPartition, replicas: [b, c] }],
          })
        }
        if (seen.length === 300) break
      }
    })()
    await waitUntil(() => moved, 60_000, 'the reassignment started')
    await write(100, 100)
    await waitForReplicas(cluster, OFFSETS, offsetsPartition, [b, c], cluster.ids)
    await write(200, 100)
    await reading
    await consumer.close()

    expect(commitErrors.map(String)).toEqual([])
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i))
    const after = await waitForLeader(url, OFFSETS, offsetsPartition)
    expect(after.replicas).toEqual([b, c])
    expect(after.leader).toBe(b)
    const offsets = await client.groupOffsets(GROUP)
    expect(offsets.map((o) => [o.partition, o.committed])).toEqual([[0, 300]])
    await client.close()
    await waitUntil(
      () => !existsSync(partitionDir(cluster, a, OFFSETS, offsetsPartition)),
      30_000,
      `broker ${a}'s copy of ${OFFSETS}/${offsetsPartition} deleted`,
    )
  }, 180_000)
})
