/**
 * Contract: in a cluster a topic may have more partitions than etcd takes operations in one
 * transaction (128): it is created whole, described with a leader for every partition on every
 * broker, serves its last partition, is deleted whole and can be created again. A create that died
 * half-way (partition keys in etcd, no topic key) shows nothing and does not spoil the next create.
 */
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  createTopic,
  produceRetrying,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const WIDE = 300

describe('topics wider than one etcd transaction', () => {
  let cluster: TestCluster
  let etcd: Etcd3

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
    etcd = new Etcd3({ hosts: cluster.etcd.url })
  })

  afterAll(async () => {
    etcd?.close()
    await cluster?.close()
  })

  const partitionKeys = async (topic: string) =>
    (await etcd.getAll().prefix(`/strata/partitions/${topic}/`).keys()).length

  /**
   * A partition's records, read at whichever broker leads it: a new topic's leaders may still move
   * (the preferred-leader election hands a partition back to a broker that was busy closing others).
   */
  function readAtLeader(
    topic: string,
    partition: number,
  ): Promise<Array<{ offset: number; value: unknown }>> {
    return waitUntil(
      async () => {
        const led = await waitForLeader(cluster.advertised(1), topic, partition)
        return readAll(cluster.advertised(led.leader), topic, partition)
      },
      20_000,
      `${topic}/${partition} read at its leader`,
    )
  }

  /** Every broker describes the topic with a live leader for each partition. */
  async function everyPartitionLed(topic: string, partitions: number): Promise<void> {
    for (const id of cluster.ids) {
      await waitUntil(
        async () => {
          const res = await jsonRequest(`${cluster.advertised(id)}/v1/topics/${topic}`, 'GET')
          if (res.status !== 200) return false
          const described = res.body.partitions as Array<{ leader: number; replicas: number[] }>
          return (
            described.length === partitions &&
            described.every((p) => p.leader > 0 && p.replicas.length === 2 && p.replicas.includes(p.leader))
          )
        },
        60_000,
        `broker ${id} describing ${topic} with a leader for each of its ${partitions} partitions`,
      )
    }
  }

  test(`a topic of ${WIDE} partitions RF 2: created, led everywhere, served, deleted, re-created`, async () => {
    const res = await jsonRequest(`${cluster.advertised(1)}/v1/topics`, 'POST', {
      name: 'wide',
      partitions: WIDE,
      replicationFactor: 2,
    })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body.partitions).toHaveLength(WIDE)
    expect(await partitionKeys('wide')).toBe(WIDE)
    await everyPartitionLed('wide', WIDE)

    const last = await waitForLeader(cluster.advertised(2), 'wide', WIDE - 1)
    const produced = await produceRetrying(cluster.advertised(last.leader), 'wide', WIDE - 1, ['at the end'])
    expect(produced.status, JSON.stringify(produced.body)).toBe(200)
    expect(await readAtLeader('wide', WIDE - 1)).toEqual([{ offset: 0, value: 'at the end' }])

    expect((await jsonRequest(`${cluster.advertised(3)}/v1/topics/wide`, 'DELETE')).status).toBe(204)
    expect(await partitionKeys('wide')).toBe(0)
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await jsonRequest(`${cluster.advertised(id)}/v1/topics/wide`, 'GET')).status === 404,
        20_000,
        `wide gone from broker ${id}`,
      )
    }

    // Closing the old 300 partitions and opening the new ones can outlast the broker's wait for its
    // own apply on a busy machine: then it answers NOT_READY with the topic already in etcd.
    const recreated = await jsonRequest(`${cluster.advertised(2)}/v1/topics`, 'POST', {
      name: 'wide',
      partitions: WIDE,
      replicationFactor: 2,
    })
    expect([201, 503], JSON.stringify(recreated.body)).toContain(recreated.status)
    if (recreated.status === 503) expect(recreated.body.error.code).toBe('NOT_READY')
    expect(await partitionKeys('wide')).toBe(WIDE)
    await everyPartitionLed('wide', WIDE)
    expect(await readAtLeader('wide', WIDE - 1)).toEqual([])
  })

  test('a create that died between its partition chunks shows nothing and the next create is whole', async () => {
    // What a broker dying after writing some partition chunks leaves: its claim on the name, on a
    // lease nobody keeps alive any more, and partition keys, but no topic key.
    const deadBrokersLease = etcd.lease(2, { autoKeepAlive: false })
    await etcd
      .put('/strata/creating/halfway')
      .value('{"name":"halfway"}')
      .lease(await deadBrokersLease.grant())
    const stale = JSON.stringify({ leader: 1, leaderEpoch: 0, isr: [1, 2] })
    for (let p = 0; p < 150; p++) await etcd.put(`/strata/partitions/halfway/${p}`).value(stale)
    for (const id of cluster.ids) {
      const res = await jsonRequest(`${cluster.advertised(id)}/v1/topics/halfway`, 'GET')
      expect(res.status).toBe(404)
      const listed = await jsonRequest(`${cluster.advertised(id)}/v1/topics`, 'GET')
      expect(JSON.stringify(listed.body)).not.toContain('halfway')
    }

    // The create waits for the dead claim to lapse with its lease, then clears the stale keys.
    await createTopic(cluster.advertised(3), { name: 'halfway', partitions: 4, replicationFactor: 2 })
    expect((await etcd.get('/strata/creating/halfway').string()) ?? null).toBeNull()
    expect(await partitionKeys('halfway')).toBe(4)
    await everyPartitionLed('halfway', 4)
    const leader = await waitForLeader(cluster.advertised(1), 'halfway', 3)
    expect((await produceRetrying(cluster.advertised(leader.leader), 'halfway', 3, ['x'])).status).toBe(200)
  })
})
