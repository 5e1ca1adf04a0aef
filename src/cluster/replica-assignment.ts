/**
 * Where a new topic's replicas go: round-robin over the live brokers, as Kafka's rack-unaware
 * assignment does. Partition p's replicas are the `replicationFactor` brokers that follow position
 * `start + p` in the sorted broker list; the first is its preferred (initial) leader, so leaders
 * spread evenly, and `start` comes from the topic name so that many small topics do not all put
 * their first leader on the same broker.
 */
import { murmur2 } from '../broker/partition-placement.js'

export function assignReplicas(
  topic: string,
  brokers: readonly number[],
  partitions: number,
  replicationFactor: number,
): number[][] {
  const sorted = [...new Set(brokers)].sort((a, b) => a - b)
  if (replicationFactor < 1 || replicationFactor > sorted.length) {
    throw new RangeError(
      `replication factor ${replicationFactor} needs that many brokers; ${sorted.length} live`,
    )
  }
  const start = (murmur2(Buffer.from(topic)) & 0x7fffffff) % sorted.length
  const out: number[][] = []
  for (let p = 0; p < partitions; p++) {
    const replicas: number[] = []
    for (let r = 0; r < replicationFactor; r++)
      replicas.push(sorted[(start + p + r) % sorted.length] as number)
    out.push(replicas)
  }
  return out
}
