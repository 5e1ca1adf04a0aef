/**
 * Contract (issue 11, item 12, Kafka's controlled shutdown): on SIGTERM a broker first hands the
 * leadership of every partition it leads (its topics' and `__consumer_offsets`') to an in-sync
 * follower in the next leader epoch, leaving the ISR itself, while it still serves its followers'
 * fetches so that they hold everything it confirmed; then it leaves etcd and exits with code 0.
 *
 * Three brokers, a one-partition topic with replication factor 3 led by X, and the client
 * library's idempotent Producer writing acks=all to it without pause. After the SIGTERM of X:
 *   - the producer sees no error (its ordinary retries follow NOT_LEADER to the new leaders);
 *   - each of X's partitions, and each `__consumer_offsets` partition X led, has a live leader
 *     other than X;
 *   - every confirmed record is in its partition exactly once, at the offset it was confirmed
 *     with, and confirmed records keep their send order.
 * The time from SIGTERM to the first confirm on the new leader is printed (not asserted).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import {
  createTopic,
  describePartition,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { expectExactlyOnceInOrder, produceContinuously } from '../helpers/continuous-producer.js'
import { jsonRequest, testCredentials } from '../helpers/http.js'

const TOPIC = 'controlled-shutdown'
const OFFSETS_TOPIC = '__consumer_offsets'

async function leadersOf(
  url: string,
  topic: string,
): Promise<Array<{ partition: number; leader: number; isr: number[] }>> {
  const res = await jsonRequest(`${url}/v1/topics/${encodeURIComponent(topic)}`, 'GET')
  if (res.status !== 200) throw new Error(`describe ${topic}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.partitions
}

/** The start offset of the newest leader epoch in a replica's `leader-epoch-checkpoint`. */
function newestEpochStart(dataDir: string, topic: string, partition: number): number {
  const lines = readFileSync(join(dataDir, topic, String(partition), 'leader-epoch-checkpoint'), 'utf8')
    .trim()
    .split('\n')
  return Number((lines.at(-1) as string).split(' ')[1])
}

describe('12: controlled shutdown keeps the cluster available', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3, args: ['--shutdown-timeout-ms', '15000'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('12: SIGTERM of a leader under acks=all load: no producer error, new leaders at once, confirmed records exactly once in order', async () => {
    const bootstrap = cluster.ids.map((id) => cluster.advertised(id))
    await createTopic(bootstrap[0] as string, { name: TOPIC, partitions: 1, replicationFactor: 3 })
    for (const id of cluster.ids) await waitForLeader(cluster.advertised(id), TOPIC, 0)
    // Every follower in sync, so that each partition has somewhere to go.
    const full = async (topic: string) =>
      (await leadersOf(bootstrap[0] as string, topic)).every((p) => p.leader > 0 && p.isr.length === 3)
    await waitUntil(() => full(TOPIC), 30_000, `${TOPIC} fully in sync`)
    await waitUntil(() => full(OFFSETS_TOPIC), 30_000, `${OFFSETS_TOPIC} fully in sync`)

    const x = (await describePartition(bootstrap[0] as string, TOPIC, 0)).leader
    const xLeads = async (topic: string) =>
      (await leadersOf(bootstrap[0] as string, topic)).filter((p) => p.leader === x).map((p) => p.partition)
    const xTopicPartitions = await xLeads(TOPIC)
    const xOffsetsPartitions = await xLeads(OFFSETS_TOPIC)
    expect(xTopicPartitions).toContain(0)
    expect(xOffsetsPartitions.length).toBeGreaterThan(0)
    const survivors = cluster.ids.filter((id) => id !== x)

    const client = new BrokerClient({ ...testCredentials(), urls: bootstrap })
    const writer = produceContinuously(client, TOPIC, { acks: 'all', idempotent: true })
    const { confirmed, failures } = writer

    await waitUntil(() => confirmed.length >= 300, 30_000, '300 confirmed records before the SIGTERM')
    const beforeStop = confirmed.length
    const broker = cluster.broker(x)
    const sigtermAt = Date.now()
    process.kill(broker.pid, 'SIGTERM')
    const exit = await broker.exited
    const exitedAfterMs = Date.now() - sigtermAt

    // Leadership moved before X left: every partition X led has another live leader.
    const survivorUrl = cluster.advertised(survivors[0] as number)
    for (const topic of [TOPIC, OFFSETS_TOPIC]) {
      const moved = await waitUntil(
        async () => {
          const now = await leadersOf(survivorUrl, topic)
          const mine = topic === TOPIC ? xTopicPartitions : xOffsetsPartitions
          const led = mine.map((p) => now[p]?.leader as number)
          return led.every((l) => l > 0 && l !== x) ? led : undefined
        },
        10_000,
        `new leaders for the ${topic} partitions broker ${x} led`,
      )
      for (const leader of moved) expect(survivors).toContain(leader)
    }

    await waitUntil(
      () => confirmed.length >= beforeStop + 300,
      60_000,
      '300 more confirmed records after the SIGTERM',
    )
    await writer.stop()
    await client.close()

    expect(exit, broker.stderr().slice(-4000)).toEqual({ code: 0, signal: null })
    expect(failures.map((e) => String(e)).slice(0, 3)).toEqual([])

    const { leader } = await waitForLeader(survivorUrl, TOPIC, 0)
    expectExactlyOnceInOrder(await readAll(cluster.advertised(leader), TOPIC, 0), confirmed)
    // The new leader's epoch starts at its log end when elected: confirms from there on are its own.
    const start = newestEpochStart(cluster.broker(leader).dataDir, TOPIC, 0)
    const firstOnNewLeader = Math.min(
      ...confirmed.filter((c) => c.at >= sigtermAt && c.offset >= start).map((c) => c.at - sigtermAt),
    )
    console.log(
      `controlled shutdown of broker ${x}: exited ${exitedAfterMs} ms after SIGTERM; first confirm on the new leader ${firstOnNewLeader} ms after SIGTERM`,
    )
  })
})
