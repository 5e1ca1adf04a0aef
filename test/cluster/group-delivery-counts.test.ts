/**
 * Contract (issue 16): a group's delivery counts (`maxDeliveries`, poison records) survive a
 * coordinator failover. They are persisted with the group in `__consumer_offsets` whenever a record
 * is delivered again, so the new coordinator goes on counting: a record nacked twice before its
 * coordinator is killed with SIGKILL is dead-lettered after `maxDeliveries` deliveries in all (2
 * before the kill, 2 after), not after `maxDeliveries` more. The dead-letter copy says so
 * (`x-delivery-count`), and the group moves on past it.
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

describe('delivery counts across a coordinator failover', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('a record nacked twice, then its coordinator killed, is dead-lettered after maxDeliveries in all', async () => {
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    const anyUrl = urls[0] as string
    await createTopic(anyUrl, { name: TOPIC, partitions: 1, replicationFactor: 3 })
    const { leader } = await waitForLeader(anyUrl, TOPIC, 0)
    const produced = await produceRetrying(cluster.advertised(leader), TOPIC, 0, [
      { n: 0 },
      { n: 1, poison: true },
      { n: 2 },
    ])
    expect(produced.status).toBe(200)
    const offsetsPartition = partitionForKey(wirePackr.pack(GROUP), OFFSETS_PARTITIONS)
    const { leader: coordinator } = await waitForLeader(anyUrl, '__consumer_offsets', offsetsPartition)
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
        // The coordinator writes the dead-letter copies as a producer, so a dead-letter topic it leads.
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
    expect(copy.records[0]?.headers).toMatchObject({
      'x-origin-topic': TOPIC,
      'x-origin-offset': '1',
      'x-delivery-count': String(MAX_DELIVERIES),
      'x-dead-letter-group': GROUP,
    })
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
