/**
 * Delivery counts per group partition: a record's count is the number of delivery runs that
 * covered it since it was last committed; runs that continue each other merge; commits prune.
 */
import { describe, expect, it } from 'vitest'
import { DeliveryCounts, MAX_DELIVERY_RANGES } from '../../../../src/broker/groups/delivery-counts.js'

describe('DeliveryCounts', () => {
  it('counts one run per redelivery and merges contiguous runs', () => {
    const d = new DeliveryCounts()
    d.record(0, 5)
    d.record(5, 10) // the same owner reading on
    expect(d.rangeCount).toBe(1)
    d.record(3, 8) // a new owner restarts at the committed offset 3
    expect([0, 2, 3, 7, 8, 9, 10].map((o) => d.count(o))).toEqual([1, 1, 2, 2, 1, 1, 0])
  })

  it('prunes below the committed offset', () => {
    const d = new DeliveryCounts()
    d.record(0, 4)
    d.record(2, 6)
    d.prune(3)
    expect([2, 3, 4, 5, 6].map((o) => d.count(o))).toEqual([0, 2, 1, 1, 0])
    d.prune(6)
    expect(d.rangeCount).toBe(0)
  })

  it('finds the first record delivered fewer than max times', () => {
    const d = new DeliveryCounts()
    d.record(10, 13)
    d.record(10, 12)
    d.record(10, 11)
    expect(d.firstBelow(10, 100, 3)).toBe(11)
    expect(d.firstBelow(10, 100, 2)).toBe(12)
    expect(d.firstBelow(10, 100, 1)).toBe(13)
    expect(d.firstBelow(10, 11, 1)).toBe(11)
    expect(d.firstBelow(10, 100, 4)).toBe(10)
  })

  it('starts from persisted runs and says which deliveries start a new run (the ones worth persisting)', () => {
    const d = new DeliveryCounts([
      { from: 4, to: 8 },
      { from: 4, to: 5 },
      { from: 9, to: 9 },
    ])
    expect([4, 5, 8].map((o) => d.count(o))).toEqual([2, 1, 0])
    expect(d.record(5, 7)).toBe(false)
    expect(d.record(7, 7)).toBe(false)
    expect(d.record(4, 6)).toBe(true)
    expect(d.ranges()).toEqual([
      { from: 4, to: 8 },
      { from: 4, to: 7 },
      { from: 4, to: 6 },
    ])
    expect(d.count(4)).toBe(3)
  })

  it('keeps at most MAX_DELIVERY_RANGES runs', () => {
    const d = new DeliveryCounts()
    for (let i = 0; i < MAX_DELIVERY_RANGES + 10; i++) d.record(0, 1)
    expect(d.rangeCount).toBe(MAX_DELIVERY_RANGES)
    expect(d.count(0)).toBe(MAX_DELIVERY_RANGES)
  })
})
