/** Key placement must match Kafka's murmur2 partitioner bit for bit, so keys land where Kafka users expect. */
import { describe, expect, it } from 'vitest'
import { murmur2, partitionForKey, StickyPartitioner } from '../../../src/broker/partition-placement.js'

describe('murmur2', () => {
  // The vectors of Kafka's UtilsTest.testMurmur2.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('hashes %j to %d', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected)
  })

  it('places a key in [0, partitions) and always in the same one', () => {
    for (let i = 0; i < 200; i++) {
      const key = Buffer.from(`key-${i}`)
      const p = partitionForKey(key, 7)
      expect(p).toBeGreaterThanOrEqual(0)
      expect(p).toBeLessThan(7)
      expect(partitionForKey(key, 7)).toBe(p)
    }
  })
})

describe('StickyPartitioner', () => {
  it('moves round-robin over every partition', () => {
    const sticky = new StickyPartitioner()
    const seen = Array.from({ length: 6 }, () => sticky.next('t', 3))
    expect(new Set(seen).size).toBe(3)
    expect(seen[3]).toBe(seen[0])
  })
})
