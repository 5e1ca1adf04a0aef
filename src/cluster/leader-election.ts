/**
 * The controller's decision for one partition, given who is alive (pure; the controller writes the
 * result with compare-and-swap).
 *
 * - Leader alive: nothing changes, except that replicas whose lease lapsed leave the ISR (the leader
 *   would drop them after replicaLagMaxMs anyway; doing it at once stops acks=all from stalling).
 * - Leader dead (or none): the first replica, in assignment order, that is in the ISR and alive
 *   becomes leader with the next epoch; the ISR keeps only live members. Only an in-sync replica
 *   can lead, because only it is known to hold every confirmed record (no unclean election).
 * - Leader re-registered since its epoch was granted (it restarted): as if it had died, except that
 *   it may be elected again, in a new epoch. A restarted broker may have lost an unflushed tail that
 *   its followers hold, so it must never append again in an epoch whose offsets they already have.
 * - No in-sync replica alive: the partition becomes leaderless (leader −1, next epoch) and keeps its
 *   ISR, so that the first of those replicas to come back is elected.
 * The other fields of the record (a running reassignment) are kept.
 */
import { NO_LEADER, type PartitionRecord } from './cluster-records.js'

export function electLeader(
  current: PartitionRecord,
  replicas: readonly number[],
  live: ReadonlySet<number>,
  opts: { leaderRestarted?: boolean } = {},
): PartitionRecord | undefined {
  if (current.leader !== NO_LEADER && live.has(current.leader) && !opts.leaderRestarted) {
    const isr = current.isr.filter((id) => live.has(id) || id === current.leader)
    if (isr.length === current.isr.length) return undefined
    return { ...current, isr }
  }
  const candidate = replicas.find((id) => current.isr.includes(id) && live.has(id))
  if (candidate !== undefined) {
    const isr = current.isr.filter((id) => live.has(id))
    return { ...current, leader: candidate, leaderEpoch: current.leaderEpoch + 1, isr }
  }
  if (current.leader === NO_LEADER) return undefined
  return { ...current, leader: NO_LEADER, leaderEpoch: current.leaderEpoch + 1 }
}

/**
 * Preferred-leader election (Kafka's auto.leader.rebalance): the first assigned replica is the
 * preferred leader, so that leadership spreads as the assignment spread it. It should lead again
 * when it is alive and in the ISR while another live broker leads; the leader then hands over
 * (replication-manager.ts `handToPreferred`). Returns the preferred replica, or undefined.
 */
export function preferredLeaderMove(
  current: PartitionRecord,
  replicas: readonly number[],
  live: ReadonlySet<number>,
): number | undefined {
  const preferred = replicas[0]
  if (preferred === undefined || current.leader === preferred || current.leader === NO_LEADER)
    return undefined
  if (!live.has(current.leader) || !live.has(preferred) || !current.isr.includes(preferred)) return undefined
  return preferred
}
