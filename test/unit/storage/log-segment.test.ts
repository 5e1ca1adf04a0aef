/**
 * Log segment contract: the roll decision (size, age, relative offset overflow, never an empty
 * segment); appends go to the end and are indexed every indexIntervalBytes; findBatch and
 * findTimestamp locate batches through the indexes; truncateTo cuts at a batch boundary only;
 * indexes are loaded lazily with sanity checks and rebuilt from the .log when bad.
 */
import fs from 'node:fs'
import { describe, expect } from 'vitest'
import { InvalidRequestError } from '../../../src/errors.js'
import { LogSegment, MAX_RELATIVE_OFFSET, shouldRoll } from '../../../src/storage/log-segment.js'
import { readBatchHeader, stampBatch } from '../../../src/storage/record-batch.js'
import { batchOf, test } from './storage-fixtures.js'

const base = {
  isEmpty: false,
  segmentSize: 500,
  batchSize: 100,
  segmentBytes: 1000,
  segmentAgeMs: 10,
  segmentMs: 1000,
  relativeLastOffset: 10,
}

describe('shouldRoll', () => {
  test('rolls when the batch would not fit, the segment is old, or offsets would overflow', () => {
    expect(shouldRoll(base)).toBe(false)
    expect(shouldRoll({ ...base, segmentSize: 900 })).toBe(false)
    expect(shouldRoll({ ...base, segmentSize: 901 })).toBe(true)
    expect(shouldRoll({ ...base, segmentAgeMs: 1000 })).toBe(true)
    expect(shouldRoll({ ...base, relativeLastOffset: MAX_RELATIVE_OFFSET + 1 })).toBe(true)
  })

  test('never rolls an empty segment', () => {
    expect(shouldRoll({ ...base, isEmpty: true, segmentSize: 0, batchSize: 5000, segmentAgeMs: 1e9 })).toBe(
      false,
    )
  })
})

const options = { indexIntervalBytes: 200, onWarning: () => {} }

function fill(dir: string, batches: number): LogSegment {
  const segment = LogSegment.create(dir, 100, options, Date.now())
  segment.activate()
  let offset = 100
  for (let i = 0; i < batches; i++) {
    const batch = batchOf(`s${i}`, 2, { firstTimestamp: 1000 + i })
    stampBatch(batch, offset, 0)
    segment.append(batch, readBatchHeader(batch))
    offset += 2
  }
  return segment
}

describe('LogSegment', () => {
  test('appends, indexes every indexIntervalBytes and finds every offset', ({ dir }) => {
    const segment = fill(dir, 20)
    expect(segment.nextOffset).toBe(140)
    expect(segment.size).toBe(20 * 109)
    expect(segment.maxTimestamp).toBe(1019)
    // 109-byte batches: an entry every second batch once 200 bytes have accumulated.
    expect(segment.offsetIndex().entryCount).toBe(9)
    for (let offset = 100; offset < 140; offset++) {
      const step = segment.findBatch(offset)
      expect(step.kind).toBe('batch')
      if (step.kind === 'batch') expect(step.header.baseOffset).toBe(offset - (offset % 2))
    }
    expect(segment.findBatch(140).kind).toBe('end')
    segment.closeHandles()
  })

  test('findTimestamp returns the first batch reaching the timestamp', ({ dir }) => {
    const segment = fill(dir, 20)
    for (let i = 0; i < 20; i++) {
      const step = segment.findTimestamp(1000 + i)
      expect(step.kind === 'batch' && step.header.baseOffset).toBe(100 + 2 * i)
    }
    expect(segment.findTimestamp(5000).kind).toBe('end')
    segment.closeHandles()
  })

  test('seal adds the final time index entry, so its last entry is the max timestamp', ({ dir }) => {
    const segment = fill(dir, 5)
    segment.seal()
    expect(segment.timeIndex().lastEntry()).toEqual({ timestamp: 1004, offset: 108 })
    segment.closeHandles()
  })

  test('truncateTo cuts at a batch boundary and refuses the middle of a batch', ({ dir }) => {
    const segment = fill(dir, 20)
    expect(() => segment.truncateTo(111)).toThrow(InvalidRequestError)
    segment.truncateTo(120)
    expect(segment.nextOffset).toBe(120)
    expect(segment.size).toBe(10 * 109)
    expect(fs.statSync(segment.logFile).size).toBe(10 * 109)
    expect(segment.maxTimestamp).toBe(1009)
    expect(segment.offsetIndex().lastEntry()?.offset).toBeLessThan(120)
    segment.truncateTo(100)
    expect(segment.isEmpty).toBe(true)
    expect(segment.maxTimestamp).toBe(-1)
    segment.closeHandles()
  })

  test('a sealed segment loads its indexes lazily and rebuilds bad ones from the log', ({ dir }) => {
    const written = fill(dir, 20)
    written.seal()
    const expectedEntries = written.offsetIndex().entryCount
    written.closeHandles()
    fs.writeFileSync(written.indexFile, Buffer.alloc(24, 0xff))
    const warnings: string[] = []
    const segment = LogSegment.existing(
      dir,
      100,
      { ...options, onWarning: (m) => warnings.push(m) },
      {
        size: 20 * 109,
        nextOffset: 140,
        maxTimestamp: 1019,
        rollStartMs: 0,
      },
    )
    expect(segment.hasOpenHandles).toBe(false)
    expect(segment.offsetIndex().entryCount).toBe(expectedEntries)
    expect(warnings).toHaveLength(1)
    expect(segment.findBatch(133).kind === 'batch').toBe(true)
    segment.closeHandles()
    expect(segment.hasOpenHandles).toBe(false)
  })
})
