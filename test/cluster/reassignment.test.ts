/**
 * Contract (Kafka's partition reassignment, kafka-reassign-partitions / AlterPartitionReassignments):
 * `POST /v1/cluster/reassignments` moves a partition to a new replica list while producers go on
 * writing. The new replicas open the partition and catch up with the leader; once they are in the
 * ISR a leader outside the list hands over cleanly, the partition's replicas become the new list, and
 * the brokers left out delete their copy. The client library's idempotent acks=all Producer sees no
 * error, and every confirmed record is on the new replicas exactly once, in order. A bad request is
 * refused (4xx, error envelope) and changes nothing.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
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
import { expectExactlyOnceInOrder, produceContinuously } from '../helpers/continuous-producer.js'
import { jsonRequest, testCredentials } from '../helpers/http.js'
import { partitionDir, REASSIGNMENTS, reassign, running, waitForReplicas } from '../helpers/reassignments.js'
import { cli } from '../integration/cli/cli-io.js'

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

/**
 * A one-partition RF 2 topic holding records 0..639 of 1 KB each (at 64 KB/s a new replica needs
 * seconds to catch up); its replicas a (the leader) and b, and c, the broker without it.
 */
async function topicWith640Kb(
  cluster: TestCluster,
  topic: string,
): Promise<{ a: number; b: number; c: number }> {
  const url = cluster.advertised(1)
  await createTopic(url, { name: topic, partitions: 1, replicationFactor: 2 })
  const initial = await waitForLeader(url, topic, 0)
  const [a, b] = initial.replicas as [number, number]
  const c = [1, 2, 3].find((id) => id !== a && id !== b) as number
  const filler = 'x'.repeat(1000)
  for (let batch = 0; batch < 8; batch++) {
    const values = Array.from({ length: 80 }, (_, i) => ({ seq: batch * 80 + i, filler }))
    const res = await produceRetrying(url, topic, 0, values)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  }
  return { a, b, c }
}

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
    // One request is one etcd transaction, and etcd takes at most 128 writes in one.
    const tooMany = Array.from({ length: 129 }, (_, p) => ({ topic, partition: p, replicas: [b, c] }))
    await refused({ partitions: tooMany }, 400, 'INVALID_REQUEST')
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
    // a handed leadership to the first in-sync replica of the new list, its preferred leader.
    expect(after.leader).toBe(b)
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

  test('a reassignment survives a controller change; the new replica catches up throttled', async () => {
    const topic = 'reassign-controller-change'
    const url = cluster.advertised(1)
    const { a, b, c } = await topicWith640Kb(cluster, topic)
    const started = await reassign(url, {
      partitions: [{ topic, partition: 0, replicas: [c, b] }],
      throttleBytesPerSec: 65_536,
    })
    expect(started[0]).toMatchObject({
      addingReplicas: [c],
      removingReplicas: [a],
      throttleBytesPerSec: 65_536,
    })
    const listed = await running(cluster.advertised(b))
    expect(listed.map((r) => [r.topic, r.partition, r.targetReplicas])).toEqual([[topic, 0, [c, b]]])
    expect(listed[0]?.isr).not.toContain(c)
    // Topic descriptions show it too (Kafka's describe: adding and removing replicas).
    expect(await describePartition(cluster.advertised(b), topic, 0)).toMatchObject({
      replicas: [c, b, a],
      addingReplicas: [c],
      removingReplicas: [a],
    })

    const info = await jsonRequest(`${url}/v1/cluster`, 'GET')
    const controller = info.body.controller as number
    await cluster.broker(controller).kill('SIGKILL')
    const survivor = [1, 2, 3].find((id) => id !== controller) as number
    await waitUntil(
      async () => {
        const now = (await jsonRequest(`${cluster.advertised(survivor)}/v1/cluster`, 'GET')).body.controller
        return typeof now === 'number' && now !== controller
      },
      60_000,
      'a new controller',
    )
    // A dead broker cannot be a target.
    const toDead = await jsonRequest(`${cluster.advertised(survivor)}${REASSIGNMENTS}`, 'POST', {
      partitions: [{ topic: 'reassign-refused', partition: 1, replicas: [controller, survivor] }],
    })
    expect(toDead.status, JSON.stringify(toDead.body)).toBe(400)
    expect(toDead.body.error.message).toBe(`broker ${controller} is not alive`)
    await cluster.restart(controller)
    await waitForReplicas(cluster, topic, 0, [c, b], [1, 2, 3])
    await expectReplicasIdentical(cluster, topic, 0, [c, b])
    const after = await waitForLeader(url, topic, 0)
    const log = await readAll(cluster.advertised(after.leader), topic, 0)
    expect(log.map((r) => (r.value as { seq: number }).seq)).toEqual(Array.from({ length: 640 }, (_, i) => i))
    await waitUntil(
      () => !existsSync(partitionDir(cluster, a, topic, 0)),
      30_000,
      `broker ${a}'s copy deleted`,
    )
  }, 240_000)

  test('a cancelled reassignment goes back to the old replicas; the joining broker deletes its copy', async () => {
    const topic = 'reassign-cancelled'
    const url = cluster.advertised(1)
    const { a, b, c } = await topicWith640Kb(cluster, topic)
    // At 64 KB/s broker c needs seconds for 640 KB: the cancel comes while it catches up.
    await reassign(url, {
      partitions: [{ topic, partition: 0, replicas: [c, b] }],
      throttleBytesPerSec: 65_536,
    })
    await waitUntil(
      () => existsSync(join(partitionDir(cluster, c, topic, 0), '00000000000000000000.log')),
      30_000,
      `broker ${c} opening its copy`,
    )
    const cancelled = await jsonRequest(`${url}${REASSIGNMENTS}/${topic}/0`, 'DELETE')
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200)
    expect(cancelled.body).toMatchObject({ replicas: [a, b], targetReplicas: [a, b], addingReplicas: [] })
    expect(await running(url)).toEqual([])
    await waitForReplicas(cluster, topic, 0, [a, b], [1, 2, 3])
    await waitUntil(
      () => !existsSync(partitionDir(cluster, c, topic, 0)),
      30_000,
      `broker ${c}'s copy deleted`,
    )
    const again = await jsonRequest(`${url}${REASSIGNMENTS}/${topic}/0`, 'DELETE')
    expect(again.status).toBe(404)
    const log = await readAll(cluster.advertised(a), topic, 0)
    expect(log.map((r) => (r.value as { seq: number }).seq)).toEqual(Array.from({ length: 640 }, (_, i) => i))
  }, 120_000)

  test('a dead replica is replaced; when it returns it deletes its copy', async () => {
    const topic = 'reassign-dead-replica'
    const url = cluster.advertised(1)
    await createTopic(url, { name: topic, partitions: 1, replicationFactor: 2 })
    const initial = await waitForLeader(url, topic, 0)
    const [a, b] = initial.replicas as [number, number]
    const c = [1, 2, 3].find((id) => id !== a && id !== b) as number
    const first = Array.from({ length: 50 }, (_, seq) => ({ seq }))
    expect((await produceRetrying(cluster.advertised(a), topic, 0, first)).status).toBe(200)
    expect(existsSync(join(partitionDir(cluster, b, topic, 0), '00000000000000000000.log'))).toBe(true)
    await cluster.broker(b).kill('SIGKILL')
    await waitUntil(
      async () => (await describePartition(cluster.advertised(a), topic, 0)).isr.join() === String(a),
      30_000,
      `broker ${b} out of the ISR`,
    )
    await reassign(cluster.advertised(a), { partitions: [{ topic, partition: 0, replicas: [a, c] }] })
    await waitForReplicas(cluster, topic, 0, [a, c], [a, c])
    await cluster.restart(b)
    await waitForReplicas(cluster, topic, 0, [a, c], [1, 2, 3])
    await waitUntil(
      () => !existsSync(partitionDir(cluster, b, topic, 0)),
      30_000,
      `broker ${b}'s copy deleted`,
    )
    await expectReplicasIdentical(cluster, topic, 0, [a, c])
    const log = await readAll(cluster.advertised(a), topic, 0)
    expect(log.map((r) => (r.value as { seq: number }).seq)).toEqual(first.map((v) => v.seq))
  }, 180_000)

  test('a new broker joins; strata cluster reassign --generate and --file move partitions onto it', async () => {
    const topic = 'reassign-onto-new-broker'
    const url = cluster.advertised(1)
    await createTopic(url, { name: topic, partitions: 4, replicationFactor: 2 })
    const before = []
    for (let p = 0; p < 4; p++) before.push(await waitForLeader(url, topic, p))
    const notYet = await jsonRequest(`${url}${REASSIGNMENTS}`, 'POST', {
      partitions: [{ topic, partition: 0, replicas: [4, before[0]?.leader] }],
    })
    expect(notYet.status).toBe(400)
    expect(notYet.body.error.message).toContain('broker 4 is not a member')

    const client = new BrokerClient({
      ...testCredentials(),
      urls: cluster.ids.map((id) => cluster.advertised(id)),
    })
    const writer = produceContinuously(client, topic, { acks: 'all', idempotent: true })
    const { confirmed, failures } = writer
    await waitUntil(() => confirmed.length >= 300, 60_000, '300 confirmed records before broker 4 joins')

    await cluster.add(4)
    await waitUntil(
      async () => {
        const brokers = (await jsonRequest(`${url}/v1/cluster`, 'GET')).body.brokers as Array<{
          id: number
          alive: boolean
        }>
        return brokers.some((br) => br.id === 4 && br.alive)
      },
      60_000,
      'broker 4 alive in the cluster',
    )
    const { username, password } = testCredentials()
    const env = { STRATA_USERNAME: username, STRATA_PASSWORD: password }
    const generated = await cli(
      ['cluster', 'reassign', '--generate', '--brokers', '1,2,3,4', '--topic', topic, '--url', url],
      { env },
    )
    expect(generated.code, generated.stderr).toBe(0)
    const plan = JSON.parse(generated.stdout) as {
      partitions: Array<{ partition: number; replicas: number[] }>
    }
    // 8 replicas over 4 brokers: two each, so broker 4 takes two.
    expect(plan.partitions.filter((p) => p.replicas.includes(4))).toHaveLength(2)
    const planFile = join(tmpdir(), `strata-plan-${process.pid}.json`)
    writeFileSync(planFile, generated.stdout)
    const run = await cli(
      ['cluster', 'reassign', '--file', planFile, '--throttle', '10485760', '--json', '--url', url],
      {
        env,
      },
    )
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as unknown[]).length).toBe(plan.partitions.length)
    const listed = await cli(['cluster', 'reassignments', '--json', '--url', url], { env })
    expect(listed.code, listed.stderr).toBe(0)
    expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true)

    for (const p of plan.partitions)
      await waitForReplicas(cluster, topic, p.partition, p.replicas, [1, 2, 3, 4])
    const moved = confirmed.length
    await waitUntil(
      () => confirmed.length >= moved + 300,
      60_000,
      '300 more confirmed records after the moves',
    )
    await writer.stop()
    await client.close()
    expect(failures.map((e) => String(e)).slice(0, 3)).toEqual([])

    for (let p = 0; p < 4; p++) {
      const now = await waitForLeader(url, topic, p)
      const log = await readAll(cluster.advertised(now.leader), topic, p)
      expectExactlyOnceInOrder(
        log,
        confirmed.filter((c) => c.partition === p),
      )
      await expectReplicasIdentical(cluster, topic, p, now.replicas)
      // The brokers it moved off deleted their copy; the ones it moved to hold a log.
      const was = before[p]?.replicas ?? []
      for (const id of was.filter((r) => !now.replicas.includes(r))) {
        await waitUntil(
          () => !existsSync(partitionDir(cluster, id, topic, p)),
          30_000,
          `broker ${id}'s copy of ${topic}/${p} deleted`,
        )
      }
      for (const id of now.replicas.filter((r) => !was.includes(r))) {
        expect(readdirSync(partitionDir(cluster, id, topic, p)).some((f) => f.endsWith('.log'))).toBe(true)
      }
    }
    expect(confirmed.some((c) => plan.partitions.some((p) => p.partition === c.partition))).toBe(true)
  }, 300_000)
})
