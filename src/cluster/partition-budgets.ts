/**
 * The broker-wide partition budget across a cluster: each broker publishes its budget (the most
 * partitions it can hold open, broker/partition-budget.ts) in its registration, and a topic create
 * or a reassignment that would put more replicas on a broker than its budget is refused before
 * anything is written. What a broker holds is counted from the cluster view: every partition whose
 * replicas name it (during a reassignment, the joining and the leaving replicas both hold a copy).
 */
import { PartitionLimitReachedError } from '../errors.js'
import { replicasOf } from './cluster-records.js'
import type { ClusterView } from './cluster-view.js'

/** How many partition replicas each broker holds, by the cluster metadata. */
export function replicasHeld(view: ClusterView): Map<number, number> {
  const held = new Map<number, number>()
  for (const { value: topic } of view.topics.values()) {
    for (let p = 0; p < topic.partitions; p++) {
      for (const id of replicasOf(topic, p, view.partition(topic.name, p)?.value)) {
        held.set(id, (held.get(id) ?? 0) + 1)
      }
    }
  }
  return held
}

/** Counts, per broker, the replicas in `replicaSets` (a new topic's assignment, a move's joiners). */
export function replicasPerBroker(replicaSets: Iterable<readonly number[]>): Map<number, number> {
  const count = new Map<number, number>()
  for (const replicas of replicaSets) for (const id of replicas) count.set(id, (count.get(id) ?? 0) + 1)
  return count
}

/** Throws PARTITION_LIMIT_REACHED naming the first broker (by id) that `adding` would take past its budget. */
export function checkPartitionBudgets(view: ClusterView, adding: ReadonlyMap<number, number>): void {
  const held = replicasHeld(view)
  for (const [brokerId, more] of [...adding].sort(([a], [b]) => a - b)) {
    const budget = (view.brokers.get(brokerId) ?? view.members.get(brokerId))?.partitionBudget
    if (budget === undefined || more === 0) continue
    const holds = held.get(brokerId) ?? 0
    if (holds + more <= budget) continue
    throw new PartitionLimitReachedError(
      `broker ${brokerId} holds ${holds} partitions and its budget is ${budget}; ${more} more do not fit (raise its ulimit -n or --max-partitions, or place the partitions elsewhere)`,
      { brokerId, budget, held: holds, partitions: more },
    )
  }
}
