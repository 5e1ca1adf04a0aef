/**
 * The cluster's side of a group's reads from partition leaders (broker/groups/remote-partitions.ts):
 * which partitions this broker holds no replica of, and the leader's fetch over the inter-broker
 * client (its credentials and TLS, reloaded with the replicas' certificates). Main thread.
 */
import type { PartitionLeaders } from '../broker/groups/remote-partitions.js'
import type { ClusterNode } from './cluster-node.js'
import { NO_LEADER } from './cluster-records.js'

export class ClusterPartitionLeaders implements PartitionLeaders {
  readonly #node: ClusterNode

  constructor(node: ClusterNode) {
    this.#node = node
  }

  isRemote(topic: string, partition: number): boolean {
    return !this.#node.replication.hasReplica(topic, partition)
  }

  async listOffset(topic: string, partition: number, at: 'earliest' | 'latest' | number): Promise<number> {
    return this.#node.replication.client.listOffset(this.#leaderUrl(topic, partition), topic, partition, at)
  }

  async fetch(
    topic: string,
    partition: number,
    params: { offset: number; maxRecords: number; maxBytes: number; maxWaitMs: number },
    signal?: AbortSignal,
  ): Promise<Buffer> {
    return this.#node.replication.client.fetchRecords(
      this.#leaderUrl(topic, partition),
      topic,
      partition,
      params,
      signal,
    )
  }

  #leaderUrl(topic: string, partition: number): string {
    const leader = this.#node.view.partition(topic, partition)?.value.leader ?? NO_LEADER
    const url = leader === NO_LEADER ? undefined : this.#node.view.urlOf(leader)
    if (url === undefined) throw this.#node.notLeader(topic, partition)
    return url
  }
}
