/**
 * Partition reassignment's pure decisions (src/cluster/reassignment.ts) and the balanced plan of
 * `strata cluster reassign --generate` (src/cluster/reassignment-plan.ts).
 */
import { describe, expect, it } from 'vitest'
import type { PartitionRecord } from '../../../src/cluster/cluster-records.js'
import { electLeader } from '../../../src/cluster/leader-election.js'
import { cancelReassignment, reassignmentStep, startReassignment } from '../../../src/cluster/reassignment.js'
import { balancedPlan } from '../../../src/cluster/reassignment-plan.js'

const alive =
  (...ids: number[]) =>
  (id: number) =>
    ids.includes(id)

describe('reassignment steps', () => {
  const current: PartitionRecord = { leader: 1, leaderEpoch: 4, isr: [1, 2] }
  const started = startReassignment(current, [1, 2], [2, 3], 65_536)

  it('starts with the target first, then the replicas leaving', () => {
    expect(started).toEqual({
      leader: 1,
      leaderEpoch: 4,
      isr: [1, 2],
      replicas: [2, 3, 1],
      addingReplicas: [3],
      removingReplicas: [1],
      previousReplicas: [1, 2],
      throttleBytesPerSec: 65_536,
    })
  })

  it('waits for the joining replicas, moves a leader outside the target, then completes', () => {
    expect(reassignmentStep(started, alive(1, 2, 3))).toEqual({
      kind: 'wait',
      reason: 'broker(s) 3 catching up with the leader',
    })
    const caughtUp = { ...started, isr: [1, 2, 3] }
    expect(reassignmentStep(caughtUp, alive(1, 2, 3))).toEqual({ kind: 'moveLeader', to: 2 })
    const handedOver = { ...caughtUp, leader: 2, leaderEpoch: 5 }
    expect(reassignmentStep(handedOver, alive(1, 2, 3))).toEqual({
      kind: 'complete',
      record: { leader: 2, leaderEpoch: 5, isr: [2, 3], replicas: [2, 3] },
    })
    expect(reassignmentStep({ leader: 1, leaderEpoch: 0, isr: [1] }, alive(1))).toBeUndefined()
  })

  it('an election keeps the reassignment fields', () => {
    const next = electLeader({ ...started, isr: [1, 2, 3] }, [2, 3, 1], new Set([2, 3]))
    expect(next).toEqual({ ...started, leader: 2, leaderEpoch: 5, isr: [2, 3] })
  })

  it('cancels back to the old replicas; a leader among the joining ones gives way', () => {
    expect(cancelReassignment(started, alive(1, 2, 3))).toEqual({
      record: { leader: 1, leaderEpoch: 4, isr: [1, 2], replicas: [1, 2] },
    })
    const ledByNew = { ...started, leader: 3, leaderEpoch: 6, isr: [2, 3] }
    expect(cancelReassignment(ledByNew, alive(1, 2, 3))).toEqual({
      record: { leader: 2, leaderEpoch: 7, isr: [2], replicas: [1, 2] },
    })
    expect(cancelReassignment({ ...ledByNew, isr: [3] }, alive(1, 2, 3))).toEqual({
      refused: 'no replica of the original set is alive and in sync to lead the partition',
    })
    expect(cancelReassignment(current, alive(1, 2))).toBeUndefined()
  })
})

describe('balanced plan', () => {
  it('moves two replicas and their leaderships onto a fourth broker, and nothing more', () => {
    const current = [
      { topic: 't', partition: 0, replicas: [1, 2] },
      { topic: 't', partition: 1, replicas: [2, 3] },
      { topic: 't', partition: 2, replicas: [3, 1] },
      { topic: 't', partition: 3, replicas: [1, 2] },
    ]
    const plan = balancedPlan(current, [1, 2, 3, 4])
    const after = current.map((p) => plan.find((q) => q.partition === p.partition) ?? p)
    const count = (id: number) => after.filter((p) => p.replicas.includes(id)).length
    expect([1, 2, 3, 4].map(count)).toEqual([2, 2, 2, 2])
    expect(after.map((p) => p.replicas[0]).sort()).toEqual([1, 2, 3, 4])
    for (const p of after) expect(new Set(p.replicas).size).toBe(2)
  })

  it('moves replicas off a broker that is not listed, and refuses too few brokers', () => {
    const plan = balancedPlan([{ topic: 't', partition: 0, replicas: [1, 5] }], [1, 2])
    expect(plan).toEqual([{ topic: 't', partition: 0, replicas: [1, 2] }])
    expect(() => balancedPlan([{ topic: 't', partition: 0, replicas: [1, 2] }], [1])).toThrow(RangeError)
  })
})
