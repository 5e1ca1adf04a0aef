/**
 * Time index contract: an entry (T, o) says every batch up to the one at o has maxTimestamp ≤ T,
 * so the scan for timestamp t starts at the last entry with T < t (the segment start if none);
 * entries are added only when the timestamp grows; the file is 12-byte big-endian entries and
 * `load` refuses a file that fails its sanity checks.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { lastIndexBelow, readLastTimestamp, TimeIndex } from '../../../src/storage/time-index.js'
import { test } from './storage-fixtures.js'

function sampleIndex(dir: string): TimeIndex {
  const index = new TimeIndex(path.join(dir, '00000000000000000050.timeindex'), 50)
  index.maybeAppend(1000, 52)
  index.maybeAppend(2000, 60)
  index.maybeAppend(3000, 75)
  return index
}

describe('lastIndexBelow', () => {
  test('finds the last key strictly below the target', () => {
    const keys = [10, 20, 30]
    expect(lastIndexBelow(keys, 3, 10)).toBe(-1)
    expect(lastIndexBelow(keys, 3, 11)).toBe(0)
    expect(lastIndexBelow(keys, 3, 20)).toBe(0)
    expect(lastIndexBelow(keys, 3, 21)).toBe(1)
    expect(lastIndexBelow(keys, 3, 31)).toBe(2)
    expect(lastIndexBelow(keys, 0, 31)).toBe(-1)
  })
})

describe('TimeIndex', () => {
  test('lookup at the first entry, exact entries, between entries and past the end', ({ dir }) => {
    const index = sampleIndex(dir)
    expect(index.lookup(0)).toBe(50)
    expect(index.lookup(1000)).toBe(50)
    expect(index.lookup(1001)).toBe(52)
    expect(index.lookup(2000)).toBe(52)
    expect(index.lookup(2500)).toBe(60)
    expect(index.lookup(3000)).toBe(60)
    expect(index.lookup(3001)).toBe(75)
    expect(index.lookup(1e15)).toBe(75)
  })

  test('only a growing timestamp adds an entry', ({ dir }) => {
    const index = sampleIndex(dir)
    expect(index.maybeAppend(3000, 80)).toBe(false)
    expect(index.maybeAppend(2999, 80)).toBe(false)
    expect(index.maybeAppend(3001, 80)).toBe(true)
    expect(index.lastEntry()).toEqual({ timestamp: 3001, offset: 80 })
    expect(() => index.maybeAppend(4000, 79)).toThrow(RangeError)
  })

  test('writes big-endian (timestamp, relativeOffset) entries and loads them back', ({ dir }) => {
    const index = sampleIndex(dir)
    index.writeFile()
    const bytes = fs.readFileSync(index.file)
    expect(bytes.subarray(0, 12).toString('hex')).toBe('00000000000003e800000002')
    expect(readLastTimestamp(index.file)).toBe(3000)
    const loaded = TimeIndex.load(index.file, 50, { logSize: 1e6, nextOffset: 80 })
    expect(loaded?.entryCount).toBe(3)
    expect(loaded?.lookup(2500)).toBe(60)
  })

  test('load and readLastTimestamp refuse missing, odd-sized and unordered files', ({ dir }) => {
    const file = path.join(dir, 'bad.timeindex')
    const bounds = { logSize: 1e6, nextOffset: 80 }
    expect(TimeIndex.load(file, 50, bounds)).toBeUndefined()
    expect(readLastTimestamp(file)).toBeUndefined()
    fs.writeFileSync(file, Buffer.alloc(13))
    expect(TimeIndex.load(file, 50, bounds)).toBeUndefined()
    expect(readLastTimestamp(file)).toBeUndefined()
    fs.writeFileSync(file, Buffer.alloc(0))
    expect(readLastTimestamp(file)).toBeUndefined()
    const index = sampleIndex(dir)
    fs.writeFileSync(file, Buffer.concat([index.encode(), Buffer.alloc(12)]))
    expect(TimeIndex.load(file, 50, bounds)).toBeUndefined()
    fs.writeFileSync(file, index.encode())
    expect(TimeIndex.load(file, 50, { logSize: 1e6, nextOffset: 75 })).toBeUndefined()
  })
})
