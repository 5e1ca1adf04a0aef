/**
 * A 3-broker cluster with --auth: brokers fetch from each other with the inter-broker token (acks=all
 * is confirmed as replicated only once followers fetched it), the replication routes refuse anyone
 * else, and users and tokens live in etcd: made through one broker, valid on every other, and a
 * revoke through one stops the token everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCluster, type TestCluster, waitUntil } from '../helpers/cluster.js'
import { ADMIN_PASSWORD, type Auth, admin, call } from '../integration/auth/auth-helpers.js'

const TOPIC = 'secured'
const INTER_BROKER_TOKEN = 'inter-broker-secret-for-tests'

describe('a cluster with --auth', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({
      brokers: 3,
      args: ['--auth'],
      env: { STRATA_ADMIN_PASSWORD: ADMIN_PASSWORD, STRATA_INTER_BROKER_TOKEN: INTER_BROKER_TOKEN },
    })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  const on = (id: number, method: string, path: string, auth: Auth = admin, body?: unknown) =>
    call(cluster.advertised(id), method, path, { auth, body })

  test('acks=all is replicated through authenticated replica fetches', async () => {
    await waitUntil(
      async () => {
        const res = await on(1, 'POST', '/v1/topics', admin, {
          name: TOPIC,
          partitions: 1,
          replicationFactor: 3,
        })
        return res.status === 201 || res.status === 409
      },
      30_000,
      'the topic to be created',
    )
    const leader = await waitUntil(
      async () => {
        const p = (await on(1, 'GET', `/v1/topics/${TOPIC}`)).body.partitions[0]
        return p.leader > 0 && p.isr.length === 3 ? (p.leader as number) : undefined
      },
      30_000,
      'a leader with all three replicas in sync',
    )
    const produced = await waitUntil(
      async () => {
        const res = await on(leader, 'POST', `/v1/topics/${TOPIC}/partitions/0/records`, admin, {
          records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }],
          acks: 'all',
          producerId: 77,
          sequence: 0,
        })
        return res.status === 200 ? res.body : undefined
      },
      30_000,
      'an acks=all produce',
    )
    expect(produced).toEqual({
      offsets: [
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
        { partition: 0, offset: 2 },
      ],
      durability: 'replicated',
    })
    // Every follower fetched the records: each replica's log ends at 3.
    for (const id of cluster.ids) {
      await waitUntil(
        async () => {
          const p = (await on(id, 'GET', `/v1/topics/${TOPIC}`)).body.partitions[0]
          return p.highWatermark === 3 && p.isr.length === 3
        },
        20_000,
        `broker ${id} to see the high watermark at 3`,
      )
    }
    const read = await on(leader, 'GET', `/v1/topics/${TOPIC}/partitions/0/records?offset=0`)
    expect(read.body.records.map((r: { value: unknown }) => r.value)).toEqual(['a', 'b', 'c'])
  })

  test('the replication routes take only the inter-broker token (or a superuser)', async () => {
    const leader = (await on(1, 'GET', `/v1/topics/${TOPIC}`)).body.partitions[0].leader as number
    const path = `/v1/replication/${TOPIC}/0?offset=0&replicaId=9&leaderEpoch=0`
    const anonymous = await call(cluster.advertised(leader), 'GET', path)
    expect(anonymous.status, JSON.stringify(anonymous.body)).toBe(401)
    expect((await on(leader, 'GET', path, { bearer: 'not-the-inter-broker-token' })).status).toBe(401)
    const made = await on(1, 'POST', '/v1/users', admin, { name: 'outsider', password: 'outsider-pw' })
    expect(made.status).toBe(201)
    const outsider = await waitUntil(
      async () => {
        const res = await on(leader, 'GET', path, { basic: ['outsider', 'outsider-pw'] })
        return res.status === 401 ? undefined : res
      },
      10_000,
      'the new user to reach the leader',
    )
    expect(outsider.status).toBe(403)
    const epochs = `/v1/replication/${TOPIC}/0/epochs/0?replicaId=9&leaderEpoch=0`
    expect((await on(leader, 'GET', epochs, { basic: ['outsider', 'outsider-pw'] })).status).toBe(403)
    const handOver = `/v1/replication/${TOPIC}/0/preferred-leader?leaderEpoch=0`
    expect((await on(leader, 'POST', handOver, { basic: ['outsider', 'outsider-pw'] })).status).toBe(403)
    const asBroker = await on(leader, 'GET', epochs, { bearer: INTER_BROKER_TOKEN })
    expect(asBroker.status, JSON.stringify(asBroker.body)).not.toBe(401)
    expect(asBroker.status).not.toBe(403)
  })

  test('users and tokens are shared through etcd; a revoke through one broker holds on all', async () => {
    expect((await on(2, 'POST', '/v1/users', admin, { name: 'svc' })).status).toBe(201)
    const made = await on(2, 'POST', '/v1/users/svc/tokens', admin, { label: 'shared' })
    expect(made.status).toBe(201)
    const token = { bearer: made.body.token as string }
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await on(id, 'GET', '/v1/whoami', token)).status === 200,
        10_000,
        `broker ${id} to know svc`,
      )
    }
    expect((await on(3, 'DELETE', `/v1/users/svc/tokens/${made.body.id}`)).status).toBe(204)
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await on(id, 'GET', '/v1/whoami', token)).status === 401,
        10_000,
        `broker ${id} to drop the token`,
      )
    }
  })
})
