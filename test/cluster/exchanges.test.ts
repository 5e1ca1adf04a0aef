/**
 * Contract: in a cluster, exchanges and bindings live in etcd. One created through any broker is
 * listed by every broker; bindings made at the same time through different brokers all survive; a
 * publish through any broker writes each record on the leader of its partition, whichever broker
 * that is, at the offsets the confirm lists; a deleted topic's bindings go on every broker; and
 * after a broker is killed (SIGKILL) the exchanges, their bindings and routing through the others
 * are all still there.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  createTopic,
  describePartition,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

type Routed = { topic: string; partition: number; offset: number }
type Binding = { topic: string; bindingKey: string }

const TOPICS = ['x-orders', 'x-audit']
/** One replica per partition, spread over the three brokers: broker 1's share has no leader once it is killed. */
const SOLO = 'x-solo'

const PARTITIONS = 3

describe('exchanges in a cluster', () => {
  let cluster: TestCluster
  const url = (id: number) => cluster.advertised(id)

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
    for (const name of TOPICS) {
      await createTopic(url(1), { name, partitions: PARTITIONS, replicationFactor: 3 })
    }
    await createTopic(url(1), { name: SOLO, partitions: PARTITIONS, replicationFactor: 1 })
  }, 120_000)

  afterAll(async () => {
    await cluster?.close()
  })

  const bindingsOn = async (id: number, exchange: string): Promise<Binding[] | undefined> => {
    const res = await jsonRequest(`${url(id)}/v1/exchanges/${exchange}`, 'GET')
    return res.status === 200 ? (res.body.bindings as Binding[]) : undefined
  }

  const sameBindings = (a: Binding[] | undefined, b: Binding[]) =>
    a !== undefined &&
    JSON.stringify([...a].map((x) => `${x.topic}|${x.bindingKey}`).sort()) ===
      JSON.stringify([...b].map((x) => `${x.topic}|${x.bindingKey}`).sort())

  /** Waits until every listed broker shows exactly these bindings on the exchange. */
  const waitForBindings = async (ids: number[], exchange: string, expected: Binding[]) => {
    for (const id of ids) {
      await waitUntil(
        async () => sameBindings(await bindingsOn(id, exchange), expected),
        15_000,
        `broker ${id} to show ${JSON.stringify(expected)} on ${exchange}`,
      )
    }
  }

  /** Leader of every partition of every topic, as `through` describes it once they all serve. */
  const leaders = async (through: number, not?: number) => {
    const out = new Map<string, number>()
    for (const topic of TOPICS) {
      for (let p = 0; p < PARTITIONS; p++) {
        const view = await waitForLeader(url(through), topic, p, not === undefined ? {} : { not })
        out.set(`${topic}/${p}`, view.leader)
      }
    }
    return out
  }

  /**
   * Publishes `count` keyed records through broker `via` with routing key `orders.created` (which
   * the tests bind to both topics) and checks every confirmed (topic, partition, offset) holds the
   * record on its leader. Returns the confirms.
   */
  const publishAndReadBack = async (via: number, exchange: string, tag: string, count: number) => {
    const records = Array.from({ length: count }, (_, i) => ({
      routingKey: 'orders.created',
      key: `${tag}-key-${i}`,
      value: { tag, n: i },
      headers: { origin: `broker-${via}` },
    }))
    const res = await jsonRequest(`${url(via)}/v1/exchanges/${exchange}/records`, 'POST', {
      records,
      acks: 'all',
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const results = res.body.results as Array<{ routed: Routed[] }>
    expect(results).toHaveLength(count)
    const leaderOf = await leaders(via)
    for (const [i, result] of results.entries()) {
      expect(result.routed.map((r) => r.topic).sort()).toEqual([...TOPICS].sort())
      for (const routed of result.routed) {
        const leader = leaderOf.get(`${routed.topic}/${routed.partition}`) as number
        const log = await readAll(url(leader), routed.topic, routed.partition)
        expect(log.find((r) => r.offset === routed.offset)?.value).toEqual({ tag, n: i })
      }
    }
    return results.flatMap((r) => r.routed)
  }

  test('created on broker 1, listed by 2 and 3; a publish to broker 3 is written on leaders elsewhere', async () => {
    const created = await jsonRequest(`${url(1)}/v1/exchanges`, 'POST', { name: 'events', type: 'topic' })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    for (const id of [2, 3]) {
      await waitUntil(
        async () => {
          const list = await jsonRequest(`${url(id)}/v1/exchanges`, 'GET')
          return (list.body.exchanges as Array<{ name: string }>).some((x) => x.name === 'events')
        },
        15_000,
        `broker ${id} to list the exchange`,
      )
    }
    // The same name through another broker is taken.
    const again = await jsonRequest(`${url(2)}/v1/exchanges`, 'POST', { name: 'events', type: 'fanout' })
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('EXCHANGE_EXISTS')

    const first = await jsonRequest(`${url(2)}/v1/exchanges/events/bindings`, 'POST', {
      topic: 'x-orders',
      bindingKey: 'orders.#',
    })
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    const second = await jsonRequest(`${url(3)}/v1/exchanges/events/bindings`, 'POST', {
      topic: 'x-audit',
      bindingKey: '#',
    })
    expect(second.status, JSON.stringify(second.body)).toBe(201)
    const expected = [
      { topic: 'x-orders', bindingKey: 'orders.#' },
      { topic: 'x-audit', bindingKey: '#' },
    ]
    await waitForBindings(cluster.ids, 'events', expected)

    const routed = await publishAndReadBack(3, 'events', 'first', 30)
    const leaderOf = await leaders(3)
    const writers = new Set(routed.map((r) => leaderOf.get(`${r.topic}/${r.partition}`)))
    // 30 keys over 3 partitions per topic, led by brokers 1, 2 and 3: others' partitions were hit.
    expect([...writers].filter((id) => id !== 3).length).toBeGreaterThan(0)
  }, 120_000)

  test('bindings made at the same time through two brokers both survive', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`
      expect((await jsonRequest(`${url(1)}/v1/exchanges`, 'POST', { name, type: 'direct' })).status).toBe(201)
      await waitUntil(
        async () => (await bindingsOn(2, name)) !== undefined,
        15_000,
        `broker 2 to see ${name}`,
      )
      const [a, b] = await Promise.all([
        jsonRequest(`${url(1)}/v1/exchanges/${name}/bindings`, 'POST', {
          topic: 'x-orders',
          bindingKey: 'a',
        }),
        jsonRequest(`${url(2)}/v1/exchanges/${name}/bindings`, 'POST', { topic: 'x-audit', bindingKey: 'b' }),
      ])
      expect([a.status, b.status], JSON.stringify([a.body, b.body])).toEqual([201, 201])
      await waitForBindings(cluster.ids, name, [
        { topic: 'x-orders', bindingKey: 'a' },
        { topic: 'x-audit', bindingKey: 'b' },
      ])
    }
  }, 120_000)

  test('right after a change through one broker, another broker answers from etcd, not from a stale copy', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `fresh-${round}`
      expect((await jsonRequest(`${url(1)}/v1/exchanges`, 'POST', { name, type: 'direct' })).status).toBe(201)
      // No wait for the watch: broker 2 must not create it again, broker 3 must find it to bind.
      const again = await jsonRequest(`${url(2)}/v1/exchanges`, 'POST', { name, type: 'direct' })
      expect(again.status, JSON.stringify(again.body)).toBe(409)
      const bound = await jsonRequest(`${url(3)}/v1/exchanges/${name}/bindings`, 'POST', {
        topic: 'x-orders',
        bindingKey: 'k',
      })
      expect(bound.status, JSON.stringify(bound.body)).toBe(201)
      expect(bound.body.bindings).toEqual([{ topic: 'x-orders', bindingKey: 'k' }])
      expect((await jsonRequest(`${url(2)}/v1/exchanges/${name}`, 'DELETE')).status).toBe(204)
      const gone = await jsonRequest(`${url(1)}/v1/exchanges/${name}/bindings`, 'POST', { topic: 'x-audit' })
      expect(gone.status, JSON.stringify(gone.body)).toBe(404)
      expect(gone.body.error.code).toBe('EXCHANGE_NOT_FOUND')
    }
  }, 120_000)

  test("a topic's deletion removes its bindings on every broker", async () => {
    await createTopic(url(2), { name: 'x-temp', partitions: 1, replicationFactor: 2 })
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await jsonRequest(`${url(id)}/v1/topics/x-temp`, 'GET')).status === 200,
        15_000,
        `broker ${id} to have x-temp`,
      )
    }
    const created = await jsonRequest(`${url(3)}/v1/exchanges`, 'POST', {
      name: 'temp-fan',
      type: 'fanout',
      alternateTopic: 'x-temp',
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(
      (
        await jsonRequest(`${url(1)}/v1/exchanges/events/bindings`, 'POST', {
          topic: 'x-temp',
          bindingKey: 'temp',
        })
      ).status,
    ).toBe(201)
    expect(
      (await jsonRequest(`${url(3)}/v1/exchanges/temp-fan/bindings`, 'POST', { topic: 'x-temp' })).status,
    ).toBe(201)
    await waitForBindings(cluster.ids, 'temp-fan', [{ topic: 'x-temp', bindingKey: '' }])

    expect((await jsonRequest(`${url(2)}/v1/topics/x-temp`, 'DELETE')).status).toBe(204)
    await waitForBindings(cluster.ids, 'events', [
      { topic: 'x-orders', bindingKey: 'orders.#' },
      { topic: 'x-audit', bindingKey: '#' },
    ])
    await waitForBindings(cluster.ids, 'temp-fan', [])
    for (const id of cluster.ids) {
      await waitUntil(
        async () =>
          (await jsonRequest(`${url(id)}/v1/exchanges/temp-fan`, 'GET')).body.alternateTopic === null,
        15_000,
        `broker ${id} to clear the alternate topic`,
      )
    }
  }, 120_000)

  test('after broker 1 is killed, exchanges and bindings remain and routing through broker 2 works', async () => {
    await cluster.broker(1).kill('SIGKILL')
    // Every partition 1 led moves to another ISR member.
    await leaders(2, 1)
    for (const id of [2, 3]) {
      const list = await jsonRequest(`${url(id)}/v1/exchanges`, 'GET')
      expect((list.body.exchanges as Array<{ name: string }>).map((x) => x.name)).toEqual(
        expect.arrayContaining(['events', 'race-0', 'race-4', 'temp-fan']),
      )
    }
    await waitForBindings([2, 3], 'events', [
      { topic: 'x-orders', bindingKey: 'orders.#' },
      { topic: 'x-audit', bindingKey: '#' },
    ])
    const routed = await publishAndReadBack(2, 'events', 'after-kill', 30)
    const leaderOf = await leaders(2, 1)
    const writers = new Set(routed.map((r) => leaderOf.get(`${r.topic}/${r.partition}`)))
    expect(writers.has(1)).toBe(false)
    expect(writers.has(3)).toBe(true)
    // Changes still go through: broker 1's loss does not block etcd writes.
    const bound = await jsonRequest(`${url(3)}/v1/exchanges/race-0/bindings`, 'POST', {
      topic: 'x-orders',
      bindingKey: 'after-kill',
    })
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    await waitForBindings([2, 3], 'race-0', [
      { topic: 'x-orders', bindingKey: 'a' },
      { topic: 'x-audit', bindingKey: 'b' },
      { topic: 'x-orders', bindingKey: 'after-kill' },
    ])
    expect((await describePartition(url(2), 'x-orders', 0)).leader).not.toBe(1)
  }, 180_000)
  test('a publish with a target partition without a leader is refused before any write', async () => {
    const soloLeaders = new Map<number, number>()
    for (let p = 0; p < PARTITIONS; p++) soloLeaders.set(p, (await describePartition(url(2), SOLO, p)).leader)
    const orphan = [...soloLeaders].find(([, leader]) => leader !== 2 && leader !== 3)
    expect(orphan, JSON.stringify([...soloLeaders])).toBeDefined()
    expect(
      (await jsonRequest(`${url(2)}/v1/exchanges`, 'POST', { name: 'solo-fan', type: 'fanout' })).status,
    ).toBe(201)
    for (const topic of ['x-orders', SOLO]) {
      const bound = await jsonRequest(`${url(2)}/v1/exchanges/solo-fan/bindings`, 'POST', { topic })
      expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    }
    const endsBefore = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) => describePartition(url(2), 'x-orders', p)),
    )
    // 30 keys reach every partition of x-solo, the leaderless one included.
    const records = Array.from({ length: 30 }, (_, i) => ({ routingKey: '', key: `solo-${i}`, value: i }))
    const res = await jsonRequest(`${url(2)}/v1/exchanges/solo-fan/records`, 'POST', { records, acks: 1 })
    expect(res.status, JSON.stringify(res.body)).toBe(421)
    expect(res.body.error.code).toBe('NOT_LEADER')
    expect(res.body.error.details).toMatchObject({ topic: SOLO, partition: orphan?.[0] })
    const endsAfter = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) => describePartition(url(2), 'x-orders', p)),
    )
    expect(endsAfter.map((p) => p.logEndOffset)).toEqual(endsBefore.map((p) => p.logEndOffset))
  }, 60_000)

  test('with etcd unreachable a change is NOT_READY and leaves nothing; once etcd is back it goes through', async () => {
    await cluster.etcd.kill('SIGKILL')
    const refused = await waitUntil(
      async () => {
        const res = await jsonRequest(`${url(2)}/v1/exchanges`, 'POST', {
          name: 'while-down',
          type: 'direct',
        })
        return res.status === 503 ? res : undefined
      },
      30_000,
      'a create to be refused while etcd is down',
    )
    expect(refused.body.error.code).toBe('NOT_READY')
    // Routing reads memory: the exchanges are still listed and described.
    expect((await bindingsOn(3, 'events'))?.length).toBe(2)
    cluster.etcd = await cluster.etcd.restart()
    const created = await waitUntil(
      async () => {
        const res = await jsonRequest(`${url(3)}/v1/exchanges`, 'POST', {
          name: 'after-etcd',
          type: 'direct',
        })
        return res.status === 201 ? res : undefined
      },
      60_000,
      'a create to go through once etcd is back',
    )
    expect(created.body.name).toBe('after-etcd')
    for (const id of [2, 3]) {
      const names = async () =>
        ((await jsonRequest(`${url(id)}/v1/exchanges`, 'GET')).body.exchanges as Array<{ name: string }>).map(
          (x) => x.name,
        )
      await waitUntil(
        async () => (await names()).includes('after-etcd'),
        15_000,
        `broker ${id} to list after-etcd`,
      )
      expect(await names()).not.toContain('while-down')
    }
  }, 120_000)
})
