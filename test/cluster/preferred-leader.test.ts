/**
 * Contract (Kafka's preferred-leader election, auto.leader.rebalance.enable): the preferred leader
 * of a partition is the first replica of its assignment. After a failover the controller moves
 * leadership back to it once it is alive and in the ISR, with the clean hand-over of a controlled
 * shutdown (the old leader takes no new writes, waits for its followers, then hands over in the
 * next epoch): the client library's idempotent Producer writing acks=all meanwhile sees no error,
 * and every confirmed record is in its partition exactly once. On demand:
 * `POST /v1/cluster/preferred-leader-election`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import {
  createTopic,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { expectExactlyOnceInOrder, produceContinuously } from '../helpers/continuous-producer.js'
import { jsonRequest, testCredentials } from '../helpers/http.js'
import { cli } from '../integration/cli/cli-io.js'

const TOPIC = 'preferred-leaders'

interface PartitionInfo {
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
}

async function partitionsOf(url: string, topic = TOPIC): Promise<PartitionInfo[]> {
  const res = await jsonRequest(`${url}/v1/topics/${encodeURIComponent(topic)}`, 'GET')
  if (res.status !== 200) throw new Error(`describe ${topic}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.partitions
}

/** Creates the topic, waits for its preferred leaders, kills the leader of partition 0, waits for the failover. */
async function failOverPartition0(cluster: TestCluster, topic: string): Promise<number> {
  const url = cluster.advertised(1)
  await createTopic(url, { name: topic, partitions: 3, replicationFactor: 3 })
  for (let p = 0; p < 3; p++) await waitForLeader(url, topic, p)
  const initial = await waitUntil(
    async () => {
      const ps = await partitionsOf(url, topic)
      return preferredLead(ps) ? ps : undefined
    },
    30_000,
    'every partition led by its preferred replica, fully in sync',
  )
  // The assignment spreads the preferred leaders: each broker leads one partition.
  expect(initial.map((p) => p.leader).sort()).toEqual([1, 2, 3])
  const x = initial[0]?.leader as number
  await cluster.broker(x).kill('SIGKILL')
  const survivorUrl = cluster.advertised(cluster.ids.find((id) => id !== x) as number)
  const failedOver = await waitUntil(
    async () => {
      const ps = await partitionsOf(survivorUrl, topic)
      return ps.every((p) => p.leader > 0 && p.leader !== x) ? ps : undefined
    },
    30_000,
    `partition 0 to fail over from broker ${x}`,
  )
  // One survivor now leads two partitions.
  expect(new Set(failedOver.map((p) => p.leader)).size).toBe(2)
  return x
}

const preferredLead = (ps: PartitionInfo[]) =>
  ps.every((p) => p.leader === p.replicas[0] && p.isr.length === p.replicas.length)

describe('preferred-leader election', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--leader-rebalance-interval-ms', '1000'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('leadership returns to a restarted broker once it is in sync; the producer sees no error', async () => {
    const bootstrap = cluster.ids.map((id) => cluster.advertised(id))
    const t0 = Date.now()
    const step = (what: string) => console.log(`${Date.now() - t0} ms: ${what}`)
    const x = await failOverPartition0(cluster, TOPIC)
    step('failed over')
    const survivorUrl = cluster.advertised(cluster.ids.find((id) => id !== x) as number)

    const client = new BrokerClient({ ...testCredentials(), urls: bootstrap })
    const writer = produceContinuously(client, TOPIC, { acks: 'all', idempotent: true })
    const { confirmed, failures } = writer
    await waitUntil(() => confirmed.length >= 200, 30_000, '200 confirmed records before the restart')

    step('200 confirmed')
    await cluster.restart(x)
    step('restarted')
    const rebalanced = await waitUntil(
      async () => {
        const ps = await partitionsOf(survivorUrl)
        return preferredLead(ps) ? ps : undefined
      },
      60_000,
      `leadership back on broker ${x}`,
    )
    expect(rebalanced.map((p) => p.leader).sort()).toEqual([1, 2, 3])
    expect(rebalanced[0]?.leader).toBe(x)

    step('handed back')
    const handedBack = confirmed.length
    await waitUntil(
      () => confirmed.length >= handedBack + 200,
      60_000,
      '200 more confirmed records after the hand-back',
    )
    await writer.stop()
    await client.close()

    expect(failures.map((e) => String(e)).slice(0, 3)).toEqual([])
    for (const p of rebalanced) {
      const log = await readAll(cluster.advertised(p.leader), TOPIC, p.partition)
      expectExactlyOnceInOrder(
        log,
        confirmed.filter((c) => c.partition === p.partition),
      )
    }
    expect(confirmed.some((c) => c.partition === 0)).toBe(true)
  }, 180_000)
})

describe('preferred-leader election on demand (automatic elections off)', () => {
  const topic = 'preferred-on-demand'
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--leader-rebalance-interval-ms', '0'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('strata cluster elect-leaders hands partition 0 back; bad requests are refused', async () => {
    const x = await failOverPartition0(cluster, topic)
    await cluster.restart(x)
    const url = cluster.advertised(x)
    const inSync = await waitUntil(
      async () => {
        const ps = await partitionsOf(url, topic)
        return ps.every((p) => p.isr.length === 3) ? ps : undefined
      },
      30_000,
      `broker ${x} back in every ISR`,
    )
    // Without automatic elections leadership stays where the failover put it.
    expect(inSync[0]?.leader).not.toBe(x)

    const election = '/v1/cluster/preferred-leader-election'
    const refused = async (body: unknown, status: number, code: string) => {
      const res = await jsonRequest(`${url}${election}`, 'POST', body)
      expect(res.status, JSON.stringify(res.body)).toBe(status)
      expect(res.body.error.code).toBe(code)
    }
    await refused({ partitions: [0] }, 400, 'INVALID_REQUEST')
    await refused({ topic: 'no-such-topic' }, 404, 'TOPIC_NOT_FOUND')
    await refused({ topic, partitions: [3] }, 404, 'PARTITION_NOT_FOUND')
    await refused({ topic, unknown: 1 }, 400, 'INVALID_REQUEST')
    expect((await partitionsOf(url, topic))[0]?.leader).not.toBe(x)

    const { username, password } = testCredentials()
    const run = await cli(['cluster', 'elect-leaders', '--topic', topic, '--json', '--url', url], {
      env: { STRATA_USERNAME: username, STRATA_PASSWORD: password },
    })
    expect(run.code, run.stderr).toBe(0)
    const elections = JSON.parse(run.stdout) as Array<{
      partition: number
      moved: boolean
      preferredLeader: number
    }>
    expect(elections.map((e) => [e.partition, e.moved])).toEqual([
      [0, true],
      [1, false],
      [2, false],
    ])
    expect(elections[0]?.preferredLeader).toBe(x)
    const after = await waitUntil(
      async () => {
        const ps = await partitionsOf(url, topic)
        return preferredLead(ps) ? ps : undefined
      },
      10_000,
      'the election to reach the metadata',
    )
    expect(after.map((p) => p.leader)).toEqual(after.map((p) => p.replicas[0]))
    expect(after[0]?.leader).toBe(x)

    const again = await jsonRequest(`${url}${election}`, 'POST', { topic })
    expect(again.status).toBe(200)
    expect(again.body.elections.every((e: { moved: boolean }) => !e.moved)).toBe(true)
  }, 180_000)
})
