/**
 * Producer state contract (Kafka's ProducerStateManager, simplified): per producer, its epoch and
 * last 5 batches; a retry of a cached batch is a duplicate, an older uncached sequence is refused,
 * an older epoch is fenced, a newer epoch starts over; snapshots round-trip and a corrupt or
 * mismatched one is ignored.
 */
import fs from 'node:fs'
import { describe, expect } from 'vitest'
import { DuplicateSequenceError, InvalidRequestError, OutOfOrderSequenceError } from '../../../src/errors.js'
import {
  checkSequence,
  loadLatestSnapshot,
  ProducerStateManager,
  pruneSnapshots,
  snapshotFile,
  writeSnapshot,
} from '../../../src/storage/producer-state.js'
import { type BatchHeader, buildBatch, readBatchHeader } from '../../../src/storage/record-batch.js'
import { test } from './storage-fixtures.js'

function header(
  producerId: number,
  producerEpoch: number,
  baseSequence: number,
  baseOffset: number,
  count = 1,
): BatchHeader {
  const records = Array.from({ length: count }, () => Buffer.from('r'))
  const h = readBatchHeader(
    buildBatch({ records, firstTimestamp: 1, producerId, producerEpoch, baseSequence }),
  )
  return { ...h, baseOffset }
}

describe('checkSequence', () => {
  const entry = {
    producerEpoch: 2,
    batches: [
      {
        baseSequence: 0,
        lastSequence: 1,
        baseOffset: 10,
        lastOffset: 11,
        firstTimestamp: 1,
        maxTimestamp: 1,
        sizeInBytes: 70,
      },
      {
        baseSequence: 2,
        lastSequence: 2,
        baseOffset: 20,
        lastOffset: 20,
        firstTimestamp: 1,
        maxTimestamp: 1,
        sizeInBytes: 66,
      },
    ],
  }

  test('decides append, duplicate, stale sequence and fenced epoch', () => {
    expect(checkSequence(undefined, 0, 5)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 2, 3)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 2, 9)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 2, 2)).toEqual({ kind: 'duplicate', batch: entry.batches[1] })
    expect(checkSequence(entry, 2, 1)).toEqual({ kind: 'stale-sequence', lastSequence: 2 })
    expect(checkSequence(entry, 1, 3)).toEqual({ kind: 'fenced-epoch', currentEpoch: 2 })
    expect(checkSequence(entry, 3, 0)).toEqual({ kind: 'append' })
  })

  test('with the gap check, a known producer must continue at lastSequence + 1; an unknown one or a newer epoch may start anywhere', () => {
    expect(checkSequence(entry, 2, 3, true)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 2, 4, true)).toEqual({ kind: 'sequence-gap', lastSequence: 2 })
    expect(checkSequence(entry, 2, 9, true)).toEqual({ kind: 'sequence-gap', lastSequence: 2 })
    expect(checkSequence(entry, 2, 2, true)).toEqual({ kind: 'duplicate', batch: entry.batches[1] })
    expect(checkSequence(entry, 2, 1, true)).toEqual({ kind: 'stale-sequence', lastSequence: 2 })
    expect(checkSequence(undefined, 0, 7, true)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 3, 7, true)).toEqual({ kind: 'append' })
    expect(checkSequence(entry, 1, 3, true)).toEqual({ kind: 'fenced-epoch', currentEpoch: 2 })
  })
})

describe('ProducerStateManager', () => {
  test('ignores batches without a producer', () => {
    const state = new ProducerStateManager()
    state.update(header(-1, -1, -1, 0), 70)
    expect(state.producerCount).toBe(0)
    expect(state.findDuplicate(header(-1, -1, -1, 0))).toBeUndefined()
  })

  test('keeps the last 5 batches and refuses older sequences', () => {
    const state = new ProducerStateManager()
    for (let i = 0; i < 8; i++) state.update(header(9, 0, i * 2, i * 2, 2), 80)
    expect(state.entry(9)?.batches.map((b) => b.baseSequence)).toEqual([6, 8, 10, 12, 14])
    expect(state.findDuplicate(header(9, 0, 6, 999, 2))?.baseOffset).toBe(6)
    expect(() => state.findDuplicate(header(9, 0, 4, 999, 2))).toThrow(DuplicateSequenceError)
    expect(() => state.findDuplicate(header(9, 0, 15, 999))).toThrow(DuplicateSequenceError)
    expect(state.findDuplicate(header(9, 0, 16, 999))).toBeUndefined()
  })

  test('with the gap check: last + 1 appends, last + 2 is refused as out of order; unknown producers and a newer epoch start anywhere', () => {
    const state = new ProducerStateManager()
    state.update(header(9, 0, 0, 0, 5), 90)
    expect(state.findDuplicate(header(9, 0, 5, 999), true)).toBeUndefined()
    let refused: unknown
    try {
      state.findDuplicate(header(9, 0, 6, 999), true)
    } catch (err) {
      refused = err
    }
    expect(refused).toBeInstanceOf(OutOfOrderSequenceError)
    expect(refused).toMatchObject({
      code: 'OUT_OF_ORDER_SEQUENCE',
      statusCode: 409,
      retriable: true,
      details: { producerId: 9, baseSequence: 6, lastSequence: 4, expectedSequence: 5 },
    })
    // Without the gap check (the topic route) a sequence need only grow.
    expect(state.findDuplicate(header(9, 0, 6, 999))).toBeUndefined()
    expect(state.findDuplicate(header(9, 0, 0, 999), true)?.baseOffset).toBe(0)
    expect(() => state.findDuplicate(header(9, 0, 3, 999), true)).toThrow(DuplicateSequenceError)
    expect(state.findDuplicate(header(10, 0, 1234, 999), true)).toBeUndefined()
    expect(state.findDuplicate(header(9, 1, 77, 999), true)).toBeUndefined()
    state.update(header(9, 1, 77, 5), 70)
    expect(state.findDuplicate(header(9, 1, 78, 999), true)).toBeUndefined()
    expect(() => state.findDuplicate(header(9, 1, 79, 999), true)).toThrow(OutOfOrderSequenceError)
  })

  test('a newer epoch resets the producer; an older one is fenced', () => {
    const state = new ProducerStateManager()
    state.update(header(9, 1, 0, 0), 70)
    expect(() => state.findDuplicate(header(9, 0, 1, 5))).toThrow(InvalidRequestError)
    state.update(header(9, 2, 0, 1), 70)
    expect(state.entry(9)).toMatchObject({ producerEpoch: 2, batches: [{ baseOffset: 1 }] })
  })

  test('snapshots round-trip; a corrupt or mismatched one is refused', () => {
    const state = new ProducerStateManager()
    state.update(header(1, 0, 0, 0, 3), 90)
    state.update(header(2 ** 40, 5, 7, 3), 70)
    const bytes = state.encode(4)
    const loaded = new ProducerStateManager()
    expect(loaded.decode(bytes, 4)).toBe(true)
    expect(loaded.entry(1)).toEqual(state.entry(1))
    expect(loaded.entry(2 ** 40)).toEqual(state.entry(2 ** 40))
    expect(loaded.decode(bytes, 5)).toBe(false)
    const flipped = Buffer.from(bytes)
    flipped[10] = (flipped[10] ?? 0) ^ 1
    expect(loaded.decode(flipped, 4)).toBe(false)
    expect(loaded.decode(Buffer.alloc(2), 4)).toBe(false)
    expect(loaded.entry(1)).toEqual(state.entry(1))
  })
})

describe('snapshot files', () => {
  test('load the newest usable snapshot at or below the log end offset', ({ dir }) => {
    const state = new ProducerStateManager()
    state.update(header(1, 0, 0, 0), 70)
    writeSnapshot(dir, state, 1)
    state.update(header(1, 0, 1, 1), 70)
    writeSnapshot(dir, state, 2)
    state.update(header(1, 0, 2, 2), 70)
    writeSnapshot(dir, state, 3)
    fs.writeFileSync(snapshotFile(dir, 2), 'torn')
    const loaded = new ProducerStateManager()
    expect(loadLatestSnapshot(dir, [1, 2, 3], 3, loaded)).toBe(3)
    expect(loadLatestSnapshot(dir, [1, 2, 3], 2, loaded)).toBe(1)
    expect(loaded.entry(1)?.batches).toHaveLength(1)
    expect(loadLatestSnapshot(dir, [1, 2, 3], 0, loaded)).toBeUndefined()
    expect(loaded.producerCount).toBe(0)
  })

  test('expired producers are dropped: no longer deduplicated nor carried by the snapshot', ({ dir }) => {
    const day = 86_400_000
    const now = 10 * day
    const state = new ProducerStateManager()
    state.update(header(1, 0, 0, 0), 70, now - day - 1)
    state.update(header(2, 0, 0, 1), 70, now - 1000)
    expect(state.findDuplicate(header(1, 0, 0, 5))?.baseOffset).toBe(0)
    expect(state.removeExpired(now, day)).toBe(1)
    expect(state.findDuplicate(header(1, 0, 0, 5))).toBeUndefined()
    expect(state.findDuplicate(header(2, 0, 0, 5))?.baseOffset).toBe(1)
    writeSnapshot(dir, state, 2)
    const loaded = new ProducerStateManager()
    expect(loadLatestSnapshot(dir, [2], 2, loaded)).toBe(2)
    expect(loaded.entry(1)).toBeUndefined()
    expect(loaded.entry(2)).toEqual(state.entry(2))
    expect(loaded.producerCount).toBe(1)
  })

  test('prune drops snapshots past the end and all but the newest few', ({ dir }) => {
    const state = new ProducerStateManager()
    for (const offset of [1, 2, 3, 4, 5]) writeSnapshot(dir, state, offset)
    expect(pruneSnapshots(dir, [1, 2, 3, 4, 5], 4, 2)).toEqual([3, 4])
    expect(fs.readdirSync(dir).sort()).toEqual([
      '00000000000000000003.snapshot',
      '00000000000000000004.snapshot',
    ])
  })
})
