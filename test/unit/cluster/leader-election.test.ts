/**
 * The controller's pure decisions: replica assignment spreads replicas and leaders round-robin;
 * election picks only in-sync live replicas, bumps the epoch, goes leaderless rather than unclean,
 * and drops dead followers from the ISR without a new epoch; leadership goes back to the preferred
 * (first assigned) replica only when it and the leader are alive and it is in sync.
 */
import { describe, expect, test } from 'vitest'
import {
  NO_LEADER,
  parseKey,
  parsePartitionRecord,
  parseTopicRecord,
} from '../../../src/cluster/cluster-records.js'
import { electLeader, preferredLeaderMove } from '../../../src/cluster/leader-election.js'
import { assignReplicas } from '../../../src/cluster/replica-assignment.js'

describe('assignReplicas', () => {
  test('each partition gets distinct replicas and leaders go round-robin', () => {
    const a = assignReplicas('orders', [3, 1, 2], 6, 3)
    for (const replicas of a) expect(new Set(replicas).size).toBe(3)
    const leaders = a.map((r) => r[0])
    for (const id of [1, 2, 3]) expect(leaders.filter((l) => l === id)).toHaveLength(2)
  })

  test('refuses more replicas than brokers', () => {
    expect(() => assignReplicas('t', [1, 2], 1, 3)).toThrow(RangeError)
  })
})

describe('electLeader', () => {
  const replicas = [1, 2, 3]
  const live = (...ids: number[]) => new Set(ids)

  test('a live leader with a live ISR changes nothing', () => {
    expect(
      electLeader({ leader: 1, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, live(1, 2, 3)),
    ).toBeUndefined()
  })

  test('dead followers leave the ISR, same epoch', () => {
    expect(electLeader({ leader: 1, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, live(1, 3))).toEqual({
      leader: 1,
      leaderEpoch: 4,
      isr: [1, 3],
    })
  })

  test('a dead leader is replaced by the first live in-sync replica with the next epoch', () => {
    expect(electLeader({ leader: 1, leaderEpoch: 4, isr: [1, 3] }, replicas, live(2, 3))).toEqual({
      leader: 3,
      leaderEpoch: 5,
      isr: [3],
    })
  })

  test('no live in-sync replica: leaderless, ISR kept; the first of it to return leads', () => {
    const leaderless = electLeader({ leader: 1, leaderEpoch: 4, isr: [1] }, replicas, live(2, 3))
    expect(leaderless).toEqual({ leader: NO_LEADER, leaderEpoch: 5, isr: [1] })
    expect(electLeader(leaderless!, replicas, live(2, 3))).toBeUndefined()
    expect(electLeader(leaderless!, replicas, live(1, 2))).toEqual({ leader: 1, leaderEpoch: 6, isr: [1] })
  })
})

describe('cluster records', () => {
  test('keys parse back', () => {
    expect(parseKey('/strata/brokers/7')).toEqual({ kind: 'broker', id: 7 })
    expect(parseKey('/strata/partitions/a.b-c/12')).toEqual({
      kind: 'partition',
      topic: 'a.b-c',
      partition: 12,
    })
    expect(parseKey('/strata/topics/x')).toEqual({ kind: 'topic', name: 'x' })
    expect(parseKey('/strata/controller')).toEqual({ kind: 'controller' })
    expect(parseKey('/other/brokers/1')).toBeUndefined()
    expect(parseKey('/strata/brokers/x')).toBeUndefined()
  })

  test('malformed records are refused', () => {
    expect(parsePartitionRecord('{"leader":1,"leaderEpoch":0,"isr":[1,2]}')).toEqual({
      leader: 1,
      leaderEpoch: 0,
      isr: [1, 2],
    })
    expect(parsePartitionRecord('{"leader":1}')).toBeUndefined()
    expect(parsePartitionRecord('nope')).toBeUndefined()
    expect(
      parseTopicRecord('{"name":"t","partitions":2,"replicationFactor":1,"config":{},"assignment":[[1]]}'),
    ).toBeUndefined()
  })
})

describe('electLeader after a leader restart', () => {
  test('a leader that re-registered gets a new epoch (it may be re-elected)', () => {
    expect(
      electLeader({ leader: 2, leaderEpoch: 7, isr: [1, 2, 3] }, [2, 1, 3], new Set([1, 2, 3]), {
        leaderRestarted: true,
      }),
    ).toEqual({ leader: 2, leaderEpoch: 8, isr: [1, 2, 3] })
  })
})

describe('preferredLeaderMove', () => {
  const replicas = [1, 2, 3]
  const live = new Set([1, 2, 3])

  test('the first replica, alive and in sync, takes back what another live broker leads', () => {
    expect(preferredLeaderMove({ leader: 2, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, live)).toBe(1)
  })

  test('nothing moves when the preferred replica leads, lags, is dead, or nobody leads', () => {
    expect(preferredLeaderMove({ leader: 1, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, live)).toBeUndefined()
    expect(preferredLeaderMove({ leader: 2, leaderEpoch: 4, isr: [2, 3] }, replicas, live)).toBeUndefined()
    expect(
      preferredLeaderMove({ leader: 2, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, new Set([2, 3])),
    ).toBeUndefined()
    expect(
      preferredLeaderMove({ leader: NO_LEADER, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, live),
    ).toBeUndefined()
    // A dead leader is the failover's business (electLeader), not a hand-over.
    expect(
      preferredLeaderMove({ leader: 2, leaderEpoch: 4, isr: [1, 2, 3] }, replicas, new Set([1, 3])),
    ).toBeUndefined()
  })
})
