/**
 * The leader epoch cache: Kafka's OffsetsForLeaderEpoch answers, the KIP-279 divergence loop, the
 * checkpoint file (round trip, rebuilt from batch headers when missing, entries past the log end
 * dropped at load) and truncation.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import {
  divergenceStep,
  endOffsetForEpoch,
  formatEpochCheckpoint,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LeaderEpochCache,
  parseEpochCheckpoint,
  UNDEFINED_EPOCH,
} from '../../../src/storage/leader-epoch-cache.js'
import { test } from '../storage/storage-fixtures.js'

const entries = [
  { epoch: 0, startOffset: 0 },
  { epoch: 2, startOffset: 10 },
  { epoch: 5, startOffset: 25 },
]

describe('endOffsetForEpoch', () => {
  test('the newest epoch ends at the log end offset', () => {
    expect(endOffsetForEpoch(entries, 5, 40)).toEqual({ epoch: 5, endOffset: 40 })
    expect(endOffsetForEpoch(entries, 9, 40)).toEqual({ epoch: 5, endOffset: 40 })
  })

  test('an older epoch ends where the next one starts', () => {
    expect(endOffsetForEpoch(entries, 0, 40)).toEqual({ epoch: 0, endOffset: 10 })
    expect(endOffsetForEpoch(entries, 2, 40)).toEqual({ epoch: 2, endOffset: 25 })
  })

  test('an epoch we never had answers for the largest one below it', () => {
    expect(endOffsetForEpoch(entries, 3, 40)).toEqual({ epoch: 2, endOffset: 25 })
  })

  test('an epoch older than all answers UNDEFINED', () => {
    expect(endOffsetForEpoch(entries.slice(1), 1, 40)).toEqual({
      epoch: UNDEFINED_EPOCH,
      endOffset: UNDEFINED_EPOCH,
    })
    expect(endOffsetForEpoch([], 0, 0).epoch).toBe(UNDEFINED_EPOCH)
  })
})

describe('divergenceStep', () => {
  test('same epoch on both sides: truncate to the lower end', () => {
    expect(divergenceStep(entries, 40, { epoch: 5, endOffset: 30 })).toEqual({ kind: 'truncate', offset: 30 })
    expect(divergenceStep(entries, 40, { epoch: 5, endOffset: 90 })).toEqual({ kind: 'truncate', offset: 40 })
  })

  test('the leader moved on earlier: truncate where our shared epoch ends on the leader', () => {
    // We have 0:[0,10) 2:[10,25) 5:[25,40); the leader has epoch 2 ending at 18 (then its own epoch 6).
    expect(divergenceStep(entries, 40, { epoch: 2, endOffset: 18 })).toEqual({ kind: 'truncate', offset: 18 })
  })

  test('the leader answers an epoch we never had: ask again with our epoch below it', () => {
    expect(divergenceStep(entries, 40, { epoch: 3, endOffset: 30 })).toEqual({ kind: 'ask', epoch: 2 })
  })

  test('nothing in common: truncate everything', () => {
    expect(divergenceStep(entries, 40, { epoch: UNDEFINED_EPOCH, endOffset: -1 })).toEqual({
      kind: 'truncate',
      offset: 0,
    })
  })
})

describe('checkpoint file', () => {
  test('round trips and rejects anything malformed', () => {
    expect(parseEpochCheckpoint(formatEpochCheckpoint(entries))).toEqual(entries)
    expect(formatEpochCheckpoint(entries)).toBe('0\n3\n0 0\n2 10\n5 25\n')
    expect(parseEpochCheckpoint('0\n2\n0 0\n')).toBeUndefined()
    expect(parseEpochCheckpoint('1\n0\n')).toBeUndefined()
    expect(parseEpochCheckpoint('0\n2\n3 0\n2 10\n')).toBeUndefined()
    expect(parseEpochCheckpoint('0\n0\n')).toEqual([])
  })

  test('assign persists; stale or equal epochs are ignored', ({ dir }) => {
    const cache = LeaderEpochCache.open(dir, 0, () => [])
    cache.assign(0, 0)
    cache.assign(3, 7)
    cache.assign(3, 9)
    cache.assign(1, 9)
    expect(cache.entries).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 7 },
    ])
    expect(fs.readFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8')).toBe('0\n2\n0 0\n3 7\n')
    expect(LeaderEpochCache.open(dir, 7, () => []).entries).toEqual(cache.entries)
  })

  test('rebuilt from batch headers when missing', ({ dir }) => {
    const batches = [
      { leaderEpoch: 0, baseOffset: 0 },
      { leaderEpoch: 0, baseOffset: 3 },
      { leaderEpoch: 4, baseOffset: 5 },
      { leaderEpoch: 4, baseOffset: 9 },
    ]
    const cache = LeaderEpochCache.open(dir, 12, () => batches)
    expect(cache.entries).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 4, startOffset: 5 },
    ])
    expect(fs.existsSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE))).toBe(true)
  })

  test('entries past the log end are dropped at load; truncation drops epochs starting at or past it', ({
    dir,
  }) => {
    fs.writeFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), formatEpochCheckpoint(entries))
    const cache = LeaderEpochCache.open(dir, 20, () => [])
    expect(cache.latestEpoch).toBe(2)
    cache.truncateFromEnd(10)
    expect(cache.entries).toEqual([{ epoch: 0, startOffset: 0 }])
    expect(LeaderEpochCache.open(dir, 10, () => []).entries).toEqual([{ epoch: 0, startOffset: 0 }])
  })
})
