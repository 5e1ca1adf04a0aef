/**
 * Partition reassignment, Kafka's (KIP-455), as pure decisions on a partition record; the
 * controller and the API write their results by compare-and-swap.
 *
 * - Start: `replicas` becomes the target followed by the replicas leaving, `addingReplicas` the
 *   target's new brokers, `removingReplicas` the current ones outside the target. Every broker in
 *   `replicas` holds the partition: the new ones open it and follow the leader (throttled), and the
 *   leader counts them as followers, outside the ISR until they catch up.
 * - Progress (controller): once every adding replica is in the ISR, a leader outside the target
 *   first hands leadership to an in-sync target replica (cleanly, as a preferred-leader election
 *   does); then the record completes: `replicas` = target, the ISR keeps only target replicas, and
 *   the reassignment fields go. The removed brokers then close and delete their copy.
 * - Cancel: back to the replicas before the reassignment (without the adding ones); a leader that
 *   is not one of them gives way to an in-sync original replica in the next epoch, as when a leader
 *   dies (only in-sync replicas hold every confirmed record).
 *
 * The replication factor stays: a target must have as many replicas as the topic's
 * replicationFactor (the topic's minInsyncReplicas was chosen for it).
 */
import { isReassigning, NO_LEADER, type PartitionRecord } from './cluster-records.js'

/** The record that starts moving a partition whose replicas are `replicas` to `target`. */
export function startReassignment(
  current: PartitionRecord,
  replicas: readonly number[],
  target: readonly number[],
  throttleBytesPerSec?: number,
): PartitionRecord {
  const removing = replicas.filter((id) => !target.includes(id))
  const adding = target.filter((id) => !replicas.includes(id))
  const { throttleBytesPerSec: _previous, ...rest } = current
  return {
    ...rest,
    replicas: [...target, ...removing],
    addingReplicas: adding,
    removingReplicas: removing,
    previousReplicas: [...replicas],
    ...(throttleBytesPerSec !== undefined && { throttleBytesPerSec }),
  }
}

/** The replicas a running reassignment moves to (undefined when none runs). */
export function reassignmentTarget(record: PartitionRecord): number[] | undefined {
  if (!isReassigning(record)) return undefined
  const removing = record.removingReplicas ?? []
  return (record.replicas ?? []).filter((id) => !removing.includes(id))
}

/** The replicas a partition had before its running reassignment (undefined when none runs). */
export function reassignmentOrigin(record: PartitionRecord): number[] | undefined {
  if (!isReassigning(record)) return undefined
  const adding = record.addingReplicas ?? []
  return record.previousReplicas ?? (record.replicas ?? []).filter((id) => !adding.includes(id))
}

/** A record without the fields of a reassignment. */
function withoutReassignment(record: PartitionRecord): PartitionRecord {
  const {
    addingReplicas: _adding,
    removingReplicas: _removing,
    previousReplicas: _previous,
    throttleBytesPerSec: _throttle,
    ...rest
  } = record
  return rest
}

/** Who a leader leaving the replica set hands leadership to: an in-sync, live target replica. */
export function successorInTarget(
  record: PartitionRecord,
  isr: readonly number[],
  isAlive: (id: number) => boolean,
): number | undefined {
  const target = reassignmentTarget(record)
  if (target === undefined || target.includes(record.leader)) return undefined
  return target.find((id) => isr.includes(id) && isAlive(id))
}

export type ReassignmentStep =
  | { kind: 'wait'; reason: string }
  | { kind: 'moveLeader'; to: number }
  | { kind: 'complete'; record: PartitionRecord }

/** What the controller does next for a partition being reassigned (undefined: none runs). */
export function reassignmentStep(
  record: PartitionRecord,
  isAlive: (id: number) => boolean,
): ReassignmentStep | undefined {
  const target = reassignmentTarget(record)
  if (target === undefined) return undefined
  const catchingUp = (record.addingReplicas ?? []).filter((id) => !record.isr.includes(id))
  if (catchingUp.length > 0) {
    return { kind: 'wait', reason: `broker(s) ${catchingUp.join(', ')} catching up with the leader` }
  }
  if (record.leader === NO_LEADER || !isAlive(record.leader)) {
    return { kind: 'wait', reason: 'the partition has no live leader' }
  }
  if (!target.includes(record.leader)) {
    const to = successorInTarget(record, record.isr, isAlive)
    return to === undefined
      ? { kind: 'wait', reason: 'no target replica is alive and in sync to take leadership' }
      : { kind: 'moveLeader', to }
  }
  const rest = withoutReassignment(record)
  return {
    kind: 'complete',
    record: { ...rest, replicas: target, isr: record.isr.filter((id) => target.includes(id)) },
  }
}

/**
 * The record that cancels a running reassignment, or a reason why it cannot be cancelled now (no
 * replica of the original set is alive and in sync to lead).
 */
export function cancelReassignment(
  record: PartitionRecord,
  isAlive: (id: number) => boolean,
): { record: PartitionRecord } | { refused: string } | undefined {
  const origin = reassignmentOrigin(record)
  if (origin === undefined) return undefined
  const rest = withoutReassignment(record)
  const isr = record.isr.filter((id) => origin.includes(id))
  if (origin.includes(record.leader)) return { record: { ...rest, replicas: origin, isr } }
  const leader = origin.find((id) => isr.includes(id) && isAlive(id))
  if (leader === undefined) {
    return { refused: 'no replica of the original set is alive and in sync to lead the partition' }
  }
  return { record: { ...rest, replicas: origin, isr, leader, leaderEpoch: record.leaderEpoch + 1 } }
}
