/**
 * Contract: in a cluster every broker's partition budget (`--max-partitions`, else its open-files
 * limit) holds as on a single broker. A topic whose assignment, or a reassignment whose moves, would
 * put more replicas on a broker than its budget is refused with 409 PARTITION_LIMIT_REACHED naming
 * the broker and its budget, and writes nothing; what fits is created or moved.
 */
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTopic, startCluster, type TestCluster, waitForLeader } from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const SMALL_BROKER = 3
const BUDGET = 10

describe('the partition budget of each broker in a cluster', () => {
  let cluster: TestCluster
  let etcd: Etcd3

  beforeAll(async () => {
    cluster = await startCluster({
      brokers: 3,
      brokerArgs: { [SMALL_BROKER]: ['--max-partitions', String(BUDGET)] },
    })
    etcd = new Etcd3({ hosts: cluster.etcd.url })
  })

  afterAll(async () => {
    etcd?.close()
    await cluster?.close()
  })

  async function expectNothingOf(topic: string): Promise<void> {
    expect(await etcd.get(`/strata/topics/${topic}`).string()).toBeNull()
    expect(await etcd.getAll().prefix(`/strata/partitions/${topic}/`).keys()).toEqual([])
    for (const id of cluster.ids) {
      expect((await jsonRequest(`${cluster.advertised(id)}/v1/topics/${topic}`, 'GET')).status).toBe(404)
      const listed = await jsonRequest(`${cluster.advertised(id)}/v1/topics`, 'GET')
      expect(JSON.stringify(listed.body)).not.toContain(`"${topic}"`)
    }
  }

  /** Replicas the small broker holds before any test topic: the internal offsets topic's. */
  async function internalReplicasOnSmallBroker(): Promise<number> {
    const offsets = await jsonRequest(`${cluster.advertised(1)}/v1/topics/__consumer_offsets`, 'GET')
    expect(offsets.status).toBe(200)
    return (offsets.body.partitions as Array<{ replicas: number[] }>).filter((p) =>
      p.replicas.includes(SMALL_BROKER),
    ).length
  }

  test('a create that would put more replicas on a broker than its budget is refused whole', async () => {
    const url = cluster.advertised(1)
    const internal = await internalReplicasOnSmallBroker()
    expect(internal).toBe(8)
    const tooBig = await jsonRequest(`${url}/v1/topics`, 'POST', {
      name: 'too-big',
      partitions: 12,
      replicationFactor: 3,
    })
    expect(tooBig.status, JSON.stringify(tooBig.body)).toBe(409)
    expect(tooBig.body.error.code).toBe('PARTITION_LIMIT_REACHED')
    expect(tooBig.body.error.details).toEqual({
      brokerId: SMALL_BROKER,
      budget: BUDGET,
      held: internal,
      partitions: 12,
    })
    expect(tooBig.body.error.message).toContain(`broker ${SMALL_BROKER} `)
    await expectNothingOf('too-big')

    // 8 + 2 = 10: fits exactly.
    await createTopic(cluster.advertised(2), { name: 'fits', partitions: 2, replicationFactor: 3 })
    await waitForLeader(url, 'fits', 1)

    // Full: even one more replica on the small broker is refused; what it holds counts.
    const one = await jsonRequest(`${url}/v1/topics`, 'POST', {
      name: 'one-more',
      partitions: 1,
      replicationFactor: 3,
    })
    expect(one.status, JSON.stringify(one.body)).toBe(409)
    expect(one.body.error.details).toEqual({
      brokerId: SMALL_BROKER,
      budget: BUDGET,
      held: BUDGET,
      partitions: 1,
    })
    await expectNothingOf('one-more')
  })

  test('a reassignment that would move more partitions onto a broker than its budget is refused whole', async () => {
    const url = cluster.advertised(1)
    // The small broker holds 10 after the test before: deleting 'fits' leaves its 8 internal ones.
    expect((await jsonRequest(`${url}/v1/topics/fits`, 'DELETE')).status).toBe(204)
    await createTopic(url, { name: 'movable', partitions: 3, replicationFactor: 1 })
    const described = await jsonRequest(`${url}/v1/topics/movable`, 'GET')
    const elsewhere = (described.body.partitions as Array<{ partition: number; replicas: number[] }>).filter(
      (p) => !p.replicas.includes(SMALL_BROKER),
    )
    expect(elsewhere).toHaveLength(2)
    // The small broker holds 8 + 1: moving both others there makes 11.
    const moveAll = await jsonRequest(`${url}/v1/cluster/reassignments`, 'POST', {
      partitions: elsewhere.map((p) => ({
        topic: 'movable',
        partition: p.partition,
        replicas: [SMALL_BROKER],
      })),
    })
    expect(moveAll.status, JSON.stringify(moveAll.body)).toBe(409)
    expect(moveAll.body.error.code).toBe('PARTITION_LIMIT_REACHED')
    expect(moveAll.body.error.details).toEqual({
      brokerId: SMALL_BROKER,
      budget: BUDGET,
      held: 9,
      partitions: 2,
    })
    expect((await jsonRequest(`${url}/v1/cluster/reassignments`, 'GET')).body.reassignments).toEqual([])
    const after = await jsonRequest(`${url}/v1/topics/movable`, 'GET')
    expect(after.body.partitions.map((p: { replicas: number[] }) => p.replicas)).toEqual(
      described.body.partitions.map((p: { replicas: number[] }) => p.replicas),
    )

    const moveOne = await jsonRequest(`${url}/v1/cluster/reassignments`, 'POST', {
      partitions: [{ topic: 'movable', partition: elsewhere[0]?.partition, replicas: [SMALL_BROKER] }],
    })
    expect(moveOne.status, JSON.stringify(moveOne.body)).toBe(200)
    expect(moveOne.body.reassignments).toHaveLength(1)
  })
})
