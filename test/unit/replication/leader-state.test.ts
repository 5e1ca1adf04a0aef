/**
 * The leader's bookkeeping: the HW bound is the lowest fetch offset of the in-sync (and joining)
 * followers and holds still while one has not fetched yet; Kafka's caught-up rule decides who lags
 * for longer than replicaLagMaxMs; a follower outside the ISR may join once it has the HW.
 */
import { describe, expect, test } from 'vitest'
import { LeaderState, NO_BOUND, UNKNOWN_BOUND } from '../../../src/replication/leader-state.js'

const leader = (isr = [1, 2, 3]) =>
  new LeaderState({ brokerId: 1, leaderEpoch: 4, replicas: [1, 2, 3], isr, nowMs: 0 })

describe('LeaderState', () => {
  test('the bound waits for every in-sync follower, then is the lowest fetch offset', () => {
    const s = leader()
    expect(s.highWatermarkBound()).toBe(UNKNOWN_BOUND)
    s.recordFetch(2, 10, 12, 100)
    expect(s.highWatermarkBound()).toBe(UNKNOWN_BOUND)
    s.recordFetch(3, 7, 12, 100)
    expect(s.highWatermarkBound()).toBe(7)
    s.setIsr([1, 2])
    expect(s.highWatermarkBound()).toBe(10)
    s.setIsr([1])
    expect(s.highWatermarkBound()).toBe(NO_BOUND)
  })

  test('a follower that keeps up with a moving log end stays caught up; one that stops lags', () => {
    const s = leader()
    s.recordFetch(2, 0, 0, 0)
    s.recordFetch(3, 0, 0, 0)
    // Follower 2 always reaches the end the leader had at its previous fetch.
    for (let t = 1; t <= 20; t++) s.recordFetch(2, t * 10 - 10, t * 10, t * 1000)
    expect(s.lagging(20_000, 10_000)).toEqual([3])
    expect(s.lagging(5_000, 10_000)).toEqual([])
  })

  test('a follower outside the ISR joins once it has the high watermark; joining counts for the bound', () => {
    const s = leader([1, 2])
    s.recordFetch(2, 50, 50, 0)
    s.recordFetch(3, 20, 50, 0)
    expect(s.readyToJoin(40)).toEqual([])
    s.recordFetch(3, 45, 50, 10)
    expect(s.readyToJoin(40)).toEqual([3])
    s.markJoining(3)
    expect(s.readyToJoin(40)).toEqual([])
    expect(s.highWatermarkBound()).toBe(45)
    s.joinFailed(3)
    expect(s.highWatermarkBound()).toBe(50)
    s.setIsr([1, 2, 3])
    expect(s.isr).toEqual([1, 2, 3])
  })

  test('a follower taken out of the ISR rejoins only after fetching again (a dead one never does)', () => {
    const s = leader()
    s.recordFetch(2, 30, 30, 0)
    s.recordFetch(3, 30, 30, 0)
    // The controller drops broker 3 (its lease is gone); the partition is idle, HW 30.
    s.setIsr([1, 2])
    expect(s.readyToJoin(30)).toEqual([])
    s.recordFetch(3, 30, 30, 50)
    expect(s.readyToJoin(30)).toEqual([3])
  })

  test('a reassignment adds a follower outside the ISR until it has the HW, and removes one', () => {
    const s = leader([1, 2, 3])
    s.recordFetch(2, 50, 50, 10)
    s.recordFetch(3, 50, 50, 10)
    s.setReplicas([1, 2, 3, 4], 20)
    expect(s.isFollower(4)).toBe(true)
    // The joining replica does not hold the HW back, and joins once it has it.
    expect(s.highWatermarkBound()).toBe(50)
    s.recordFetch(4, 20, 50, 30)
    expect(s.readyToJoin(50)).toEqual([])
    s.recordFetch(4, 50, 50, 40)
    expect(s.readyToJoin(50)).toEqual([4])
    s.setIsr([1, 2, 3, 4])
    // Broker 3 leaves the replicas: it is no follower any more, and never rejoins.
    s.setReplicas([1, 2, 4], 50)
    s.setIsr([1, 2, 4])
    expect(s.isFollower(3)).toBe(false)
    expect(s.followers().sort()).toEqual([2, 4])
    s.recordFetch(3, 60, 60, 60)
    expect(s.readyToJoin(50)).toEqual([])
  })
})
