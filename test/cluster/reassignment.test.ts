/**
 * Contract (Kafka's partition reassignment, kafka-reassign-partitions / AlterPartitionReassignments):
 * `POST /v1/cluster/reassignments` moves a partition to a new replica list while producers go on
 * writing. The new replicas open the partition and catch up with the leader; once they are in the
 * ISR a leader outside the list hands over cleanly, the partition's replicas become the new list, and
 * the brokers left out delete their copy. The client library's idempotent acks=all Producer sees no
 * error, and every confirmed record is on the new replicas exactly once, in order. A bad request is
 * refused (4xx, error envelope) and changes nothing.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import type { ReassignmentStatus } from '../../src/cluster/reassignment-requests.js'
import {
  bytesBelow,
  createTopic,
  describePartition,
  logBytes,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { expectExactlyOnceInOrder, produceContinuously } from '../helpers/continuous-producer.js'
import { jsonRequest, testCredentials } from '../helpers/http.js'

const REASSIGNMENTS = '/v1/cluster/reassignments'

type Status = ReassignmentStatus

async function reassign(url: string, body: unknown): Promise<Status[]> {
  const res = await jsonRequest(`${url}${REASSIGNMENTS}`, 'POST', body)
  if (res.status !== 200) throw new Error(`reassign: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.reassignments
}

async function running(url: string): Promise<Status[]> {
  const res = await jsonRequest(`${url}${REASSIGNMENTS}`, 'GET')
  if (res.status !== 200) throw new Error(`list reassignments: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.reassignments
}

/** Every live broker reports `replicas` for the partition and no reassignment runs any more. */
async function waitForReplicas(
  cluster: TestCluster,
  topic: string,
  partition: number,
  replicas: number[],
  brokers: number[],
): Promise<void> {
  await waitUntil(
    async () => {
      for (const id of brokers) {
        const url = cluster.advertised(id)
        const p = await describePartition(url, topic, partition)
        if (JSON.stringify(p.replicas) !== JSON.stringify(replicas)) return false
        if ([...p.isr].sort().join() !== [...replicas].sort().join()) return false
        if ((await running(url)).length > 0) return false
      }
      return true
    },
    90_000,
    `${topic}/${partition} on replicas ${replicas} everywhere`,
    250,
  )
}

/** Each replica's log holds the leader's bytes up to the high watermark (a batch boundary). */
async function expectReplicasIdentical(
  cluster: TestCluster,
  topic: string,
  partition: number,
  replicas: number[],
): Promise<void> {
  await waitUntil(
    async () => {
      const p = await describePartition(cluster.advertised(replicas[0] as number), topic, partition)
      if (p.highWatermark !== p.logEndOffset || p.leader <= 0) return false
      const leaderLog = bytesBelow(
        logBytes(cluster.broker(p.leader).dataDir, topic, partition),
        p.highWatermark,
      )
      return replicas.every((id) => {
        const log = logBytes(cluster.broker(id).dataDir, topic, partition)
        return log.length >= leaderLog.length && log.subarray(0, leaderLog.length).equals(leaderLog)
      })
    },
    30_000,
    `replicas ${replicas} of ${topic}/${partition} byte-identical up to the high watermark`,
    250,
  )
}

const partitionDir = (cluster: TestCluster, id: number, topic: string, partition: number) =>
  join(cluster.broker(id).dataDir, topic, String(partition))

describe('partition reassignment', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('bad requests are refused and change nothing', async () => {
    const topic = 'reassign-refused'
    const url = cluster.advertised(1)
    await createTopic(url, { name: topic, partitions: 2, replicationFactor: 2 })
    const before = await waitForLeader(url, topic, 0)
    const [a, b] = before.replicas as [number, number]
    const c = [1, 2, 3].find((id) => id !== a && id !== b) as number
    const refused = async (body: unknown, status: number, code: string) => {
      const res = await jsonRequest(`${url}${REASSIGNMENTS}`, 'POST', body)
      expect(res.status, JSON.stringify(res.body)).toBe(status)
      expect(res.body.error.code, JSON.stringify(res.body)).toBe(code)
    }
    const move = (replicas: unknown, partition = 0, name = topic) => ({
      partitions: [{ topic: name, partition, replicas }],
    })
    await refused({ partitions: [] }, 400, 'INVALID_REQUEST')
    await refused({}, 400, 'INVALID_REQUEST')
    await refused(move([b, c], 0, 'no-such-topic'), 404, 'TOPIC_NOT_FOUND')
    await refused(move([b, c], 2), 404, 'PARTITION_NOT_FOUND')
    await refused(move([]), 400, 'INVALID_REQUEST')
    await refused(move([c, c]), 400, 'INVALID_REQUEST')
    await refused(move([b, 9]), 400, 'INVALID_REQUEST')
    await refused(move([c]), 400, 'INVALID_REQUEST')
    await refused(move([1, 2, 3]), 400, 'INVALID_REQUEST')
    await refused(move(['x', 2]), 400, 'INVALID_REQUEST')
    await refused({ ...move([b, c]), throttleBytesPerSec: 10 }, 400, 'INVALID_REQUEST')
    // One bad entry refuses the whole request: the good one before it is not started either.
    await refused(
      { partitions: [...move([b, c]).partitions, ...move([b, c], 0).partitions] },
      400,
      'INVALID_REQUEST',
    )
    await refused(
      { partitions: [...move([b, c]).partitions, ...move([b, 9], 1).partitions] },
      400,
      'INVALID_REQUEST',
    )
    const cancel = await jsonRequest(`${url}${REASSIGNMENTS}/${topic}/0`, 'DELETE')
    expect(cancel.status).toBe(404)
    expect(cancel.body.error.code).toBe('NOT_FOUND')

    expect(await running(url)).toEqual([])
    expect((await describePartition(url, topic, 0)).replicas).toEqual(before.replicas)
    // The same list in the same order: nothing to do.
    expect(await reassign(url, move(before.replicas))).toEqual([])
    expect(await running(url)).toEqual([])
  }, 120_000)

  test('a partition moves off its leader while an idempotent acks=all producer writes', async () => {
    const topic = 'reassign-under-load'
    const url = cluster.advertised(1)
    await createTopic(url, { name: topic, partitions: 1, replicationFactor: 2 })
    const initial = await waitForLeader(url, topic, 0)
    await waitUntil(
      async () => (await describePartition(url, topic, 0)).isr.length === 2,
      30_000,
      'both replicas in sync',
    )
    const [a, b] = initial.replicas as [number, number]
    const c = [1, 2, 3].find((id) => id !== a && id !== b) as number
    expect(initial.leader).toBe(a)

    const client = new BrokerClient({
      ...testCredentials(),
      urls: cluster.ids.map((id) => cluster.advertised(id)),
    })
    const writer = produceContinuously(client, topic, { acks: 'all', idempotent: true })
    const { confirmed, failures } = writer
    await waitUntil(() => confirmed.length >= 300, 60_000, '300 confirmed records before the move')

    // The leader (a) is dropped: c joins, then a hands leadership to b and leaves.
    const started = await reassign(cluster.advertised(c), {
      partitions: [{ topic, partition: 0, replicas: [b, c] }],
    })
    expect(started).toHaveLength(1)
    expect(started[0]).toMatchObject({
      topic,
      partition: 0,
      replicas: [b, c, a],
      targetReplicas: [b, c],
      addingReplicas: [c],
      removingReplicas: [a],
    })
    await waitForReplicas(cluster, topic, 0, [b, c], [1, 2, 3])
    const moved = confirmed.length
    await waitUntil(
      () => confirmed.length >= moved + 300,
      60_000,
      '300 more confirmed records after the move',
    )
    await writer.stop()
    await client.close()

    expect(failures.map((e) => String(e)).slice(0, 3)).toEqual([])
    const after = await waitForLeader(url, topic, 0)
    expect(after.replicas).toEqual([b, c])
    expect([b, c]).toContain(after.leader)
    const log = await readAll(cluster.advertised(after.leader), topic, 0)
    expectExactlyOnceInOrder(log, confirmed)
    expect(log.length).toBeGreaterThanOrEqual(confirmed.length)
    await expectReplicasIdentical(cluster, topic, 0, [b, c])
    // Broker a closed its copy and deleted it.
    await waitUntil(
      () => !existsSync(partitionDir(cluster, a, topic, 0)),
      30_000,
      `broker ${a}'s copy deleted`,
    )
    expect(existsSync(partitionDir(cluster, c, topic, 0))).toBe(true)
  }, 240_000)
})
