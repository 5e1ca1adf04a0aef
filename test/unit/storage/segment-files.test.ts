/**
 * Segment file naming contract (Kafka's LogFileUtils): 20-digit zero-padded base offsets that
 * sort like numbers; the listing separates logs, snapshots and strays (indexes without a log,
 * temp and deleted files) and leaves unknown files alone.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import {
  filenamePrefixFromOffset,
  fsyncDir,
  fsyncDirSync,
  listPartitionDir,
  offsetFilePath,
  parseOffsetFileName,
  removeFileIfExists,
} from '../../../src/storage/segment-files.js'
import { test } from './storage-fixtures.js'

describe('names', () => {
  test('pad base offsets to 20 digits', ({ dir }) => {
    expect(filenamePrefixFromOffset(0)).toBe('00000000000000000000')
    expect(filenamePrefixFromOffset(1234)).toBe('00000000000000001234')
    expect(filenamePrefixFromOffset(Number.MAX_SAFE_INTEGER)).toBe('00009007199254740991')
    expect(offsetFilePath(dir, 5, '.log')).toBe(path.join(dir, '00000000000000000005.log'))
  })

  test('parse only well-formed names', () => {
    expect(parseOffsetFileName('00000000000000001234.log')).toEqual({ offset: 1234, suffix: '.log' })
    expect(parseOffsetFileName('00000000000000001234.timeindex')).toEqual({
      offset: 1234,
      suffix: '.timeindex',
    })
    expect(parseOffsetFileName('00000000000000001234.snapshot')).toEqual({
      offset: 1234,
      suffix: '.snapshot',
    })
    expect(parseOffsetFileName('1234.log')).toBeUndefined()
    expect(parseOffsetFileName('00000000000000001234.log.tmp')).toBeUndefined()
    expect(parseOffsetFileName('recovery-point')).toBeUndefined()
  })
})

describe('listPartitionDir', () => {
  test('sorts logs and snapshots numerically and finds strays', ({ dir }) => {
    const names = [
      '00000000000000000100.log',
      '00000000000000000100.index',
      '00000000000000000100.timeindex',
      '00000000000000000000.log',
      '00000000000000000000.index',
      '00000000000000000900.index',
      '00000000000000000900.timeindex',
      '00000000000000000100.snapshot',
      '00000000000000000050.snapshot',
      'recovery-point',
      'recovery-point.tmp',
      '00000000000000000000.log.deleted',
      'notes.txt',
    ]
    for (const name of names) fs.writeFileSync(path.join(dir, name), '')
    expect(listPartitionDir(dir)).toEqual({
      logs: [0, 100],
      snapshots: [50, 100],
      strays: [
        '00000000000000000000.log.deleted',
        '00000000000000000900.index',
        '00000000000000000900.timeindex',
        'recovery-point.tmp',
      ],
    })
  })
})

describe('file helpers', () => {
  test('removeFileIfExists reports whether it removed something', ({ dir }) => {
    const file = path.join(dir, 'x')
    fs.writeFileSync(file, '')
    expect(removeFileIfExists(file)).toBe(true)
    expect(removeFileIfExists(file)).toBe(false)
  })

  test('directory fsync works in both forms', async ({ dir }) => {
    fsyncDirSync(dir)
    await fsyncDir(dir)
  })
})
