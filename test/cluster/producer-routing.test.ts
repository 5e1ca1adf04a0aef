/**
 * The client library's Producer in a cluster: a topic whose partitions have different leaders.
 * Every record goes to its partition's leader (explicit partition, key hash, or keyless), each
 * confirm names where the record is, and a kill -9 of a broker costs the application no error and
 * no duplicate (idempotent retries follow the new leaders).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { partitionForKey } from '../../src/broker/partition-placement.js'
import { BrokerClient } from '../../src/client/broker-client.js'
import { Producer } from '../../src/client/producer.js'
import type { RecordOffset } from '../../src/client/types.js'
import { wirePackr } from '../../src/wire/record-codec.js'
import {
  createTopic,
  describePartition,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { testCredentials } from '../helpers/http.js'

const TOPIC = 'routed'
const PARTITIONS = 6

interface Sent {
  seq: number
  at: RecordOffset
}

describe('Producer routing in a 3-broker cluster (6 partitions, RF 2)', () => {
  let cluster: TestCluster
  let bootstrap: string[]

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
    bootstrap = cluster.ids.map((id) => cluster.advertised(id))
    // acks=all with one of two replicas left needs minInsyncReplicas 1 (Kafka's default) to go on.
    await createTopic(bootstrap[0] as string, {
      name: TOPIC,
      partitions: PARTITIONS,
      replicationFactor: 2,
      config: { minInsyncReplicas: 1 },
    })
    for (let p = 0; p < PARTITIONS; p++) await waitForLeader(bootstrap[0] as string, TOPIC, p)
  })

  afterAll(async () => {
    await client?.close()
    await cluster?.close()
  })

  /** Every partition's records from its current leader, as seq → [(partition, offset)…]. */
  async function whereEachSeqIs(): Promise<Map<number, RecordOffset[]>> {
    const found = new Map<number, RecordOffset[]>()
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const { leader } = await waitForLeader(cluster.anyUrl(killed), TOPIC, partition)
      for (const r of await readAll(cluster.advertised(leader), TOPIC, partition)) {
        const seq = (r.value as { seq: number }).seq
        found.set(seq, [...(found.get(seq) ?? []), { partition, offset: r.offset }])
      }
    }
    return found
  }
  let killed: number[] = []
  let leaders: Array<{ leader: number }> = []
  let client: BrokerClient
  let producer: Producer
  const sent: Sent[] = []
  const failures: unknown[] = []
  let seq = 0
  const inflight = new Set<Promise<void>>()
  const send = async (record: { partition?: number; key?: string }) => {
    const mine = seq++
    const p = producer
      .send(TOPIC, { ...record, value: { seq: mine } })
      .then(([at]) => {
        sent.push({ seq: mine, at: at as RecordOffset })
      })
      .catch((err: unknown) => {
        failures.push(err)
      })
      .finally(() => inflight.delete(p))
    inflight.add(p)
    if (inflight.size >= 32) await Promise.race(inflight)
  }

  test('explicit, keyed and keyless sends each go to their partition leader and are confirmed where they are', async () => {
    leaders = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) => describePartition(bootstrap[0] as string, TOPIC, p)),
    )
    // The premise: no broker leads every partition, so a request for all of them fits none.
    expect(new Set(leaders.map((l) => l.leader)).size).toBeGreaterThan(1)
    client = new BrokerClient({
      ...testCredentials(),
      urls: bootstrap,
      retry: { maxElapsedMs: 60_000, maxAttempts: 30 },
    })
    producer = new Producer(client, { acks: 'all' })

    // 600 explicit (100 per partition, interleaved so requests mix partitions), 120 keyed, 60 keyless.
    const keyOf = new Map<number, string>()
    for (let i = 0; i < 600; i++) await send({ partition: i % PARTITIONS })
    for (let i = 0; i < 120; i++) {
      keyOf.set(seq, `customer-${i % 40}`)
      await send({ key: `customer-${i % 40}` })
    }
    for (let i = 0; i < 60; i++) await send({})
    await Promise.all(inflight)
    expect(failures).toEqual([])
    expect(sent).toHaveLength(780)

    const bySeq = new Map(sent.map((s) => [s.seq, s.at]))
    for (let s = 0; s < 600; s++) expect(bySeq.get(s)?.partition, `seq ${s}`).toBe(s % PARTITIONS)
    for (const [s, key] of keyOf) {
      // Where the broker's own key hash puts the key (as a topic-level request would have).
      expect(bySeq.get(s)?.partition, `seq ${s} key ${key}`).toBe(
        partitionForKey(wirePackr.pack(key), PARTITIONS),
      )
    }
    const before = await whereEachSeqIs()
    for (const s of sent) expect(before.get(s.seq), `seq ${s.seq}`).toEqual([s.at])
    expect(before.size).toBe(780)
  })

  test('kill -9 of a leader while sending: no error to the application, every confirmed record exactly once', async () => {
    expect(sent).toHaveLength(780)
    // kill -9 the leader of partition 0, writing without pause across every partition meanwhile.
    const victim = leaders[0]?.leader as number
    let stop = false
    const writer = (async () => {
      for (let i = 0; !stop && i < 50_000; i++) {
        const kind = i % 3
        await send(kind === 0 ? { partition: i % PARTITIONS } : kind === 1 ? { key: `k${i % 97}` } : {})
      }
      await Promise.all(inflight)
    })()
    await waitUntil(() => sent.length >= 780 + 300, 30_000, '300 confirms before the kill')
    await cluster.broker(victim).kill('SIGKILL')
    killed = [victim]
    const survivor = cluster.anyUrl(killed)
    for (let p = 0; p < PARTITIONS; p++) {
      if (leaders[p]?.leader === victim) await waitForLeader(survivor, TOPIC, p, { not: victim })
    }
    const afterFailover = sent.length
    await waitUntil(() => sent.length >= afterFailover + 600, 60_000, '600 confirms after the failover')
    stop = true
    await writer
    await producer.close()
    await client.close()

    expect(failures).toEqual([])
    const after = await whereEachSeqIs()
    // No record twice, confirmed or not; every confirmed one exactly where its confirm said.
    for (const [s, places] of after) expect(places, `seq ${s}`).toHaveLength(1)
    for (const s of sent) expect(after.get(s.seq), `seq ${s.seq}`).toEqual([s.at])
  }, 180_000)
})
