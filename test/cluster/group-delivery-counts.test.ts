/**
 * Contract (issue 16): poison records in a cluster. A group's delivery counts (`maxDeliveries`) survive a
 * coordinator failover. They are persisted with the group in `__consumer_offsets` whenever a record
 * is delivered again, so the new coordinator goes on counting: a record nacked twice before its
 * coordinator is killed with SIGKILL is dead-lettered after `maxDeliveries` deliveries in all (2
 * before the kill, 2 after), not after `maxDeliveries` more. The dead-letter copy says so
 * (`x-delivery-count`), and the group moves on past it. And the copies are written on the
 * dead-letter topic's leaders, wherever they are: before, the coordinator produced them locally, was
 * refused NOT_LEADER by a topic another broker led, and delivered the record again past maxDeliveries.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { partitionForKey } from '../../src/broker/partition-placement.js'
import { BrokerClient } from '../../src/client/broker-client.js'
import { Consumer } from '../../src/client/consumer.js'
import { wirePackr } from '../../src/wire/record-codec.js'
import {
  createTopic,
  produceRetrying,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
} from '../helpers/cluster.js'
import { testCredentials } from '../helpers/http.js'

const TOPIC = 'payments'
const GROUP = 'payment-handlers'
const OFFSETS_PARTITIONS = 8
const MAX_DELIVERIES = 4
const NACKS_BEFORE_KILL = 2

describe('poison records in a cluster', () => {
  let cluster: TestCluster

  /** A 1-partition topic holding {n: 0}, {n: 1, poison}, {n: 2}; the group's coordinator. */
  async function poisonTopicAndCoordinator(topic: string, group: string): Promise<number> {
    const anyUrl = cluster.advertised(cluster.ids[0] as number)
    await createTopic(anyUrl, { name: topic, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(anyUrl, topic, 0)
    const produced = await produceRetrying(cluster.advertised(leader), topic, 0, [
      { n: 0 },
      { n: 1, poison: true },
      { n: 2 },
    ])
    expect(produced.status).toBe(200)
    const offsetsPartition = partitionForKey(wirePackr.pack(group), OFFSETS_PARTITIONS)
    return (await waitForLeader(anyUrl, '__consumer_offsets', offsetsPartition)).leader
  }

  /** What the dead-letter copy of offset 1 of `topic` must say. */
  function copyHeaders(topic: string, group: string, deliveries: number) {
    return {
      'x-origin-topic': topic,
      'x-origin-partition': '0',
      'x-origin-offset': '1',
      'x-delivery-count': String(deliveries),
      'x-dead-letter-group': group,
    }
  }

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  // First: the other test leaves a broker killed.
  test('a poison record goes to a dead-letter topic led by another broker than the coordinator', async () => {
    const topic = 'invoices'
    const group = 'invoice-handlers'
    const maxDeliveries = 2
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    const coordinator = await poisonTopicAndCoordinator(topic, group)
    const dlq = await deadLetterTopicNotLedBy(coordinator)
    const client = new BrokerClient({ urls, ...testCredentials() })
    await client.setGroupConfig(group, { maxDeliveries, deadLetterTopic: dlq.name })
    const consumer = new Consumer(client, { group, topics: [topic], maxRecords: 1 })
    const deliveries: number[] = []
    for await (const record of consumer) {
      deliveries.push(record.offset)
      const value = record.value as { n: number; poison?: boolean }
      if (!value.poison) {
        await consumer.commit(record)
        if (value.n === 2) break
        continue
      }
      // Bounded: on the old broker the record came back for good.
      if (deliveries.filter((o) => o === 1).length > maxDeliveries + 3) break
      consumer.nack(record)
    }
    await consumer.close()

    // Delivered maxDeliveries times, then moved to the dead-letter topic, and the group went on.
    expect(deliveries).toEqual([0, 1, 1, 2])
    const dead = await readAll(cluster.advertised(dlq.leader), dlq.name, 0)
    expect(dead.map((r) => r.value)).toEqual([{ n: 1, poison: true }])
    const copy = await client.fetch(dlq.name, 0, { offset: 0, maxRecords: 1 })
    expect(copy.records[0]?.headers).toMatchObject(copyHeaders(topic, group, maxDeliveries))
    expect((await client.groupOffsets(group)).map((o) => [o.partition, o.committed])).toEqual([[0, 3]])
    await client.close()

    /** A fresh single-partition topic led by a broker other than `broker` (leaders spread; a few tries). */
    async function deadLetterTopicNotLedBy(broker: number): Promise<{ name: string; leader: number }> {
      const anyUrl = urls[0] as string
      for (let i = 0; i < 12; i++) {
        const name = `${topic}-dead-${i}`
        await createTopic(anyUrl, { name, partitions: 1, replicationFactor: 2 })
        const view = await waitForLeader(anyUrl, name, 0)
        if (view.leader !== broker) return { name, leader: view.leader }
      }
      throw new Error(`every dead-letter topic was led by broker ${broker} after 12 tries`)
    }
  }, 120_000)

  test('a record nacked twice, then its coordinator killed, is dead-lettered after maxDeliveries in all', async () => {
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    const coordinator = await poisonTopicAndCoordinator(TOPIC, GROUP)
    const offsetsPartition = partitionForKey(wirePackr.pack(GROUP), OFFSETS_PARTITIONS)
    const survivor = cluster.ids.find((id) => id !== coordinator) as number

    const client = new BrokerClient({
      urls,
      ...testCredentials(),
      retry: { maxElapsedMs: 60_000, maxAttempts: 60 },
    })
    await client.setGroupConfig(GROUP, { maxDeliveries: MAX_DELIVERIES })
    // One record per fetch: a nack rewinds the partition, and a run that reached the next record
    // would count it too.
    const consumer = new Consumer(client, {
      group: GROUP,
      topics: [TOPIC],
      maxRecords: 1,
      sessionTimeoutMs: 6_000,
    })

    const deliveries: number[] = []
    let poisonDeliveries = 0
    let killed = false
    for await (const record of consumer) {
      deliveries.push(record.offset)
      const value = record.value as { n: number; poison?: boolean }
      if (!value.poison) {
        await consumer.commit(record)
        if (value.n === 2) break
        continue
      }
      poisonDeliveries++
      if (poisonDeliveries === NACKS_BEFORE_KILL && !killed) {
        killed = true
        await cluster.broker(coordinator).kill('SIGKILL')
        const successor = await waitForLeader(
          cluster.advertised(survivor),
          '__consumer_offsets',
          offsetsPartition,
          {
            not: coordinator,
          },
        )
        // A dead-letter topic the new coordinator leads (one led elsewhere: the test above).
        const dlq = await deadLetterTopicLedBy(successor.leader)
        await client.setGroupConfig(GROUP, { maxDeliveries: MAX_DELIVERIES, deadLetterTopic: dlq })
      }
      consumer.nack(record)
      expect(poisonDeliveries, 'the poison record delivered past maxDeliveries').toBeLessThanOrEqual(
        MAX_DELIVERIES,
      )
    }
    await consumer.close()

    expect(killed).toBe(true)
    // Two deliveries before the kill, two after: maxDeliveries in all, then the group moved past it.
    expect(deliveries).toEqual([0, 1, 1, 1, 1, 2])
    const config = (await client.describeGroup(GROUP)).config as { deadLetterTopic: string }
    const { leader: dlqLeader } = await waitForLeader(cluster.advertised(survivor), config.deadLetterTopic, 0)
    const dead = await readAll(cluster.advertised(dlqLeader), config.deadLetterTopic, 0)
    expect(dead.map((r) => r.value)).toEqual([{ n: 1, poison: true }])
    const copy = await client.fetch(config.deadLetterTopic, 0, { offset: 0, maxRecords: 1 })
    expect(copy.records[0]?.headers).toMatchObject(copyHeaders(TOPIC, GROUP, MAX_DELIVERIES))
    const offsets = await client.groupOffsets(GROUP)
    expect(offsets.map((o) => [o.partition, o.committed])).toEqual([[0, 3]])
    await client.close()

    /** A fresh single-partition topic whose leader is `broker` (placement spreads leaders; a few tries). */
    async function deadLetterTopicLedBy(broker: number): Promise<string> {
      for (let i = 0; i < 12; i++) {
        const name = `payments-dead-${i}`
        await createTopic(cluster.advertised(survivor), { name, partitions: 1, replicationFactor: 2 })
        const view = await waitForLeader(cluster.advertised(survivor), name, 0)
        // Not on the dead broker: acks=all there would need it back in the ISR.
        if (view.leader === broker && !view.replicas.includes(coordinator)) return name
      }
      throw new Error(`no dead-letter topic led by broker ${broker} after 12 tries`)
    }
  }, 180_000)
})
