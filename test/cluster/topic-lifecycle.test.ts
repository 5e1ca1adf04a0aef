/**
 * Contract: in a cluster, topics live in etcd. Any broker creates or deletes one for all; a name is
 * taken once (409); a replication factor above the live brokers is refused (400); a deleted topic
 * disappears from every broker and the same name can be created again, empty, with another shape.
 */
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

describe('topics in a cluster', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('create anywhere, delete anywhere, re-create empty; conflicts and impossible factors refused', async () => {
    const url = cluster.advertised(1)
    await createTopic(url, { name: 'lifecycle', partitions: 2, replicationFactor: 2 })
    const first = await waitForLeader(url, 'lifecycle', 0)
    expect(first.replicas).toHaveLength(2)
    expect((await produceRetrying(cluster.advertised(first.leader), 'lifecycle', 0, ['one'])).status).toBe(
      200,
    )
    expect(
      (await jsonRequest(`${cluster.advertised(2)}/v1/topics`, 'POST', { name: 'lifecycle' })).status,
    ).toBe(409)
    const tooMany = await jsonRequest(`${url}/v1/topics`, 'POST', { name: 'wide', replicationFactor: 4 })
    expect(tooMany.status).toBe(400)

    expect((await jsonRequest(`${cluster.advertised(2)}/v1/topics/lifecycle`, 'DELETE')).status).toBe(204)
    for (const id of cluster.ids) {
      await waitUntil(
        async () =>
          (await jsonRequest(`${cluster.advertised(id)}/v1/topics/lifecycle`, 'GET')).status === 404,
        10_000,
        `the topic gone from broker ${id}`,
      )
    }

    await createTopic(cluster.advertised(3), { name: 'lifecycle', partitions: 1, replicationFactor: 3 })
    const again = await waitForLeader(url, 'lifecycle', 0)
    expect(again.replicas).toHaveLength(3)
    expect((await produceRetrying(cluster.advertised(again.leader), 'lifecycle', 0, ['two'])).status).toBe(
      200,
    )
    expect((await readAll(cluster.advertised(again.leader), 'lifecycle', 0)).map((r) => r.value)).toEqual([
      'two',
    ])
  })
})
