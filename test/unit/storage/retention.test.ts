/**
 * Retention contract (Kafka's retention.ms / retention.bytes): delete whole segments from the
 * oldest, by age of their newest batch or to bring the total size down to the limit without going
 * under it, and never the active (last) segment; −1 disables a limit.
 */
import { describe, expect, test } from 'vitest'
import {
  expiredCount,
  oversizeCount,
  type RetentionSegment,
  segmentsToDelete,
} from '../../../src/storage/retention.js'

const segments: RetentionSegment[] = [
  { baseOffset: 0, sizeInBytes: 100, maxTimestamp: 1000 },
  { baseOffset: 10, sizeInBytes: 100, maxTimestamp: 2000 },
  { baseOffset: 20, sizeInBytes: 100, maxTimestamp: 3000 },
  { baseOffset: 30, sizeInBytes: 50, maxTimestamp: 4000 },
]

describe('by age', () => {
  test('deletes leading segments whose newest batch is older than retentionMs', () => {
    const policy = { retentionMs: 500, retentionBytes: -1 }
    expect(expiredCount(segments, policy, 1500)).toBe(0)
    expect(expiredCount(segments, policy, 1501)).toBe(1)
    expect(expiredCount(segments, policy, 3501)).toBe(3)
    expect(segmentsToDelete(segments, policy, 3501)).toBe(3)
    expect(segmentsToDelete(segments, policy, 1e12)).toBe(3)
  })

  test('stops at the first segment that is young enough', () => {
    const mixed = [
      segments[0],
      { ...segments[1], maxTimestamp: 9000 },
      segments[2],
      segments[3],
    ] as RetentionSegment[]
    expect(segmentsToDelete(mixed, { retentionMs: 500, retentionBytes: -1 }, 5000)).toBe(1)
  })

  test('−1 keeps everything', () => {
    expect(segmentsToDelete(segments, { retentionMs: -1, retentionBytes: -1 }, 1e12)).toBe(0)
  })
})

describe('by size', () => {
  test('deletes whole segments while the rest still holds retentionBytes', () => {
    const total = 350
    expect(oversizeCount(segments, { retentionMs: -1, retentionBytes: total })).toBe(0)
    expect(oversizeCount(segments, { retentionMs: -1, retentionBytes: 300 })).toBe(0)
    expect(oversizeCount(segments, { retentionMs: -1, retentionBytes: 250 })).toBe(1)
    expect(oversizeCount(segments, { retentionMs: -1, retentionBytes: 249 })).toBe(1)
    expect(oversizeCount(segments, { retentionMs: -1, retentionBytes: 150 })).toBe(2)
  })

  test('never the active segment, even with retentionBytes 0', () => {
    expect(segmentsToDelete(segments, { retentionMs: -1, retentionBytes: 0 }, 0)).toBe(3)
    expect(segmentsToDelete(segments.slice(0, 1), { retentionMs: 1, retentionBytes: 0 }, 1e12)).toBe(0)
    expect(segmentsToDelete([], { retentionMs: 1, retentionBytes: 0 }, 1e12)).toBe(0)
  })

  test('the larger of the two limits wins', () => {
    expect(segmentsToDelete(segments, { retentionMs: 500, retentionBytes: 150 }, 1501)).toBe(2)
    expect(segmentsToDelete(segments, { retentionMs: 500, retentionBytes: 300 }, 2501)).toBe(2)
  })
})
