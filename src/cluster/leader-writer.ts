/**
 * A publish received by one broker of a cluster writes each routed record on the leader of its
 * (topic, partition): partitions this broker leads are produced here, the others are sent to their
 * leaders' partition produce route with the publish's acks, and the confirm gathers every offset.
 *
 * Records are placed as a plain produce places them (key hash; keyless records of one publish on
 * one partition per topic, round-robin between publishes), here, so every copy knows its partition
 * before any write. Before the first write every target is checked against this broker's metadata:
 * a live leader with a known URL and, for acks=all, an ISR as large as the topic's
 * minInsyncReplicas. What can still fail later (a leader that lost its leadership or its ISR since,
 * a leader's alarm, an unreachable leader) fails only its partitions: the others may be written, as
 * with Kafka's multi-partition produce without transactions (docs/exchanges.md).
 * Main thread only.
 */
import type { Broker, EncodedRecords, ProduceRecord, ProduceResult } from '../broker/broker.js'
import { partitionForKey, StickyPartitioner } from '../broker/partition-placement.js'
import type { BrokerConfig } from '../config/schema.js'
import { NotEnoughReplicasError } from '../errors.js'
import { ReplicaClient } from '../replication/replica-client.js'
import { encodeKey } from '../wire/record-codec.js'
import type { Acks, Durability } from '../workers/worker-messages.js'
import type { ClusterNode } from './cluster-node.js'
import { minInsyncReplicas, NO_LEADER } from './cluster-records.js'

/** Time on top of the leader's own ack timeout for the answer to travel back. */
const FORWARD_GRACE_MS = 5_000
const DURABILITY_ORDER: Durability[] = ['none', 'written', 'fsynced', 'replicated']

type PartitionShare = { indexes: number[]; records: ProduceRecord[]; keys: Buffer[]; bodies: Buffer[] }

export class LeaderWriter {
  readonly #node: ClusterNode
  readonly #broker: Broker
  readonly #config: BrokerConfig
  readonly #client: ReplicaClient
  readonly #sticky = new StickyPartitioner()

  constructor(node: ClusterNode, broker: Broker, config: BrokerConfig) {
    this.#node = node
    this.#broker = broker
    this.#config = config
    // The inter-broker token (--auth): the publish was authorised here, its targets when bound.
    this.#client = new ReplicaClient(config, config.interBrokerToken)
  }

  /**
   * Checks every partition the records go to and returns the write; throws (writing nothing) to
   * refuse. `encoded` (the records as the log stores them) spares partitions led here a re-encode.
   */
  prepare(
    topic: string,
    records: readonly ProduceRecord[],
    acks: Acks,
    encoded?: EncodedRecords,
  ): () => Promise<ProduceResult> {
    const meta = this.#broker.topics.get(topic)
    const shares = new Map<number, PartitionShare>()
    let keyless: number | undefined
    records.forEach((record, i) => {
      const hasKey = record.key !== undefined && record.key !== null
      keyless ??= hasKey ? undefined : this.#sticky.next(topic, meta.partitions)
      const key = encoded?.keys[i] ?? encodeKey(record.key)
      const partition = hasKey ? partitionForKey(key, meta.partitions) : (keyless as number)
      let share = shares.get(partition)
      if (!share) {
        share = { indexes: [], records: [], keys: [], bodies: [] }
        shares.set(partition, share)
      }
      share.indexes.push(i)
      share.records.push(record)
      share.keys.push(key)
      const body = encoded?.bodies[i]
      if (body) share.bodies.push(body)
    })
    for (const partition of shares.keys()) this.#check(topic, partition, acks)
    return async () => {
      const offsets = new Array<ProduceResult['offsets'][number]>(records.length)
      let durability: Durability = 'replicated'
      await Promise.all(
        [...shares].map(async ([partition, share]) => {
          const result = await this.#write(topic, partition, share, acks)
          share.indexes.forEach((index, k) => {
            const offset = result.offsets[k]
            if (offset) offsets[index] = offset
          })
          if (DURABILITY_ORDER.indexOf(result.durability) < DURABILITY_ORDER.indexOf(durability)) {
            durability = result.durability
          }
        }),
      )
      return { offsets, durability }
    }
  }

  reloadTls(): void {
    this.#client.reloadTls()
  }

  close(): Promise<void> {
    return this.#client.close()
  }

  #leaderOf(topic: string, partition: number): number {
    return this.#node.view.partition(topic, partition)?.value.leader ?? NO_LEADER
  }

  #check(topic: string, partition: number, acks: Acks): void {
    const leader = this.#leaderOf(topic, partition)
    if (leader === this.#config.brokerId) {
      this.#node.checkProduce(topic, partition, acks)
      return
    }
    if (leader === NO_LEADER || !this.#node.view.brokers.has(leader)) {
      throw this.#node.notLeader(topic, partition)
    }
    const record = this.#node.view.partition(topic, partition)?.value
    const clusterTopic = this.#node.view.topics.get(topic)?.value
    if (acks === 'all' && record && clusterTopic) {
      const needed = minInsyncReplicas(clusterTopic)
      if (record.isr.length < needed) {
        throw new NotEnoughReplicasError(
          `${topic}/${partition} has ${record.isr.length} in-sync replica(s), acks=all needs ${needed} (before the write)`,
          { topic, partition, isr: record.isr, minInsyncReplicas: needed, retryAfterMs: 1000 },
        )
      }
    }
  }

  async #write(
    topic: string,
    partition: number,
    { records, keys, bodies }: PartitionShare,
    acks: Acks,
  ): Promise<ProduceResult> {
    const leader = this.#leaderOf(topic, partition)
    if (leader === this.#config.brokerId) {
      const encoded = bodies.length === records.length ? { keys, bodies } : undefined
      return this.#broker.produce(topic, records, { acks, partition, encoded })
    }
    const url = this.#node.urlOf(leader)
    if (leader === NO_LEADER || url === undefined) throw this.#node.notLeader(topic, partition)
    const wire = records.map((record) => {
      const fields: Record<string, unknown> = { value: record.value }
      if (record.key !== undefined && record.key !== null) fields.key = record.key
      if (record.headers !== undefined) fields.headers = record.headers
      if (record.timestamp !== undefined) fields.timestamp = record.timestamp
      return fields
    })
    return this.#client.produce(
      url,
      topic,
      partition,
      { records: wire, acks },
      this.#config.ackTimeoutMs + FORWARD_GRACE_MS,
    )
  }
}
