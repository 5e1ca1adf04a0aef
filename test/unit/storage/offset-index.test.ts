/**
 * Offset index contract: a floor lookup gives the last entry at or before an offset (the segment
 * start when there is none), at every boundary; entries strictly increase; the file is 8-byte
 * big-endian (relativeOffset, position) entries, and `load` refuses a file that fails sanity checks.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { floorIndex, OffsetIndex } from '../../../src/storage/offset-index.js'
import { test } from './storage-fixtures.js'

describe('floorIndex', () => {
  test('finds the largest key at or below the target at every boundary', () => {
    const keys = [10, 20, 30]
    expect(floorIndex(keys, 3, 9)).toBe(-1)
    expect(floorIndex(keys, 3, 10)).toBe(0)
    expect(floorIndex(keys, 3, 15)).toBe(0)
    expect(floorIndex(keys, 3, 20)).toBe(1)
    expect(floorIndex(keys, 3, 29)).toBe(1)
    expect(floorIndex(keys, 3, 30)).toBe(2)
    expect(floorIndex(keys, 3, 1e9)).toBe(2)
    expect(floorIndex(keys, 0, 50)).toBe(-1)
    expect(floorIndex(keys, 2, 50)).toBe(1)
  })
})

function sampleIndex(dir: string): OffsetIndex {
  const index = new OffsetIndex(path.join(dir, '00000000000000000100.index'), 100)
  index.append(105, 400)
  index.append(110, 800)
  index.append(120, 1300)
  return index
}

describe('OffsetIndex', () => {
  test('lookup at the first entry, exact entries, between entries and past the end', ({ dir }) => {
    const index = sampleIndex(dir)
    expect(index.lookup(100)).toEqual({ offset: 100, position: 0 })
    expect(index.lookup(104)).toEqual({ offset: 100, position: 0 })
    expect(index.lookup(105)).toEqual({ offset: 105, position: 400 })
    expect(index.lookup(109)).toEqual({ offset: 105, position: 400 })
    expect(index.lookup(110)).toEqual({ offset: 110, position: 800 })
    expect(index.lookup(119)).toEqual({ offset: 110, position: 800 })
    expect(index.lookup(120)).toEqual({ offset: 120, position: 1300 })
    expect(index.lookup(10_000)).toEqual({ offset: 120, position: 1300 })
  })

  test('an empty index points at the segment start', ({ dir }) => {
    const index = new OffsetIndex(path.join(dir, 'x.index'), 7)
    expect(index.lookup(7)).toEqual({ offset: 7, position: 0 })
    expect(index.lookup(1000)).toEqual({ offset: 7, position: 0 })
    expect(index.lastEntry()).toBeUndefined()
    expect(index.positionAfter(7)).toBeUndefined()
  })

  test('positionAfter gives the first entry past an offset', ({ dir }) => {
    const index = sampleIndex(dir)
    expect(index.positionAfter(100)).toBe(400)
    expect(index.positionAfter(104)).toBe(400)
    expect(index.positionAfter(105)).toBe(800)
    expect(index.positionAfter(119)).toBe(1300)
    expect(index.positionAfter(120)).toBeUndefined()
  })

  test('refuses entries that do not increase', ({ dir }) => {
    const index = sampleIndex(dir)
    expect(() => index.append(120, 1400)).toThrow(RangeError)
    expect(() => index.append(121, 1300)).toThrow(RangeError)
  })

  test('writes big-endian (relativeOffset, position) entries and loads them back', ({ dir }) => {
    const index = sampleIndex(dir)
    index.writeFile()
    const bytes = fs.readFileSync(index.file)
    expect(bytes.toString('hex')).toBe('00000005000001900000000a000003200000001400000514')
    const loaded = OffsetIndex.load(index.file, 100, { logSize: 2000, nextOffset: 130 })
    expect(loaded?.entryCount).toBe(3)
    expect(loaded?.lookup(112)).toEqual({ offset: 110, position: 800 })
  })

  test('write-through appends land in the file as they happen', ({ dir }) => {
    const index = new OffsetIndex(path.join(dir, 'w.index'), 0)
    index.openForAppend()
    index.append(3, 100)
    index.append(9, 250)
    expect(fs.statSync(index.file).size).toBe(16)
    index.close()
    expect(OffsetIndex.load(index.file, 0, { logSize: 300, nextOffset: 10 })?.lookup(9)).toEqual({
      offset: 9,
      position: 250,
    })
  })

  test('load refuses missing, odd-sized, unordered and out-of-bounds files', ({ dir }) => {
    const file = path.join(dir, 'bad.index')
    const bounds = { logSize: 2000, nextOffset: 130 }
    expect(OffsetIndex.load(file, 100, bounds)).toBeUndefined()
    fs.writeFileSync(file, Buffer.alloc(7))
    expect(OffsetIndex.load(file, 100, bounds)).toBeUndefined()
    const index = sampleIndex(dir)
    fs.writeFileSync(file, Buffer.concat([index.encode(), Buffer.alloc(8)]))
    expect(OffsetIndex.load(file, 100, bounds)).toBeUndefined()
    fs.writeFileSync(file, index.encode())
    expect(OffsetIndex.load(file, 100, { logSize: 1300, nextOffset: 130 })).toBeUndefined()
    expect(OffsetIndex.load(file, 100, { logSize: 2000, nextOffset: 120 })).toBeUndefined()
    expect(OffsetIndex.load(file, 100, bounds)).toBeDefined()
  })

  test('grows past its initial capacity', ({ dir }) => {
    const index = new OffsetIndex(path.join(dir, 'g.index'), 0)
    for (let i = 1; i <= 1000; i++) index.append(i * 2, i * 100)
    expect(index.lookup(1001)).toEqual({ offset: 1000, position: 50_000 })
    expect(index.lookup(2000)).toEqual({ offset: 2000, position: 100_000 })
  })
})
