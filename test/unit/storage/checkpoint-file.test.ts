/**
 * Checkpoint contract: `recovery-point` is "<offset>\n", replaced atomically through a temp file;
 * anything that does not parse reads as no checkpoint, which makes recovery validate everything.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import {
  hasMarker,
  readCheckpoint,
  writeCheckpoint,
  writeMarker,
} from '../../../src/storage/checkpoint-file.js'
import { test } from './storage-fixtures.js'

describe('recovery-point', () => {
  test('round-trips and leaves no temp file', ({ dir }) => {
    const file = path.join(dir, 'recovery-point')
    expect(readCheckpoint(file)).toBeUndefined()
    writeCheckpoint(file, 1234, { durable: true })
    expect(fs.readFileSync(file, 'utf8')).toBe('1234\n')
    writeCheckpoint(file, 99, { durable: false })
    expect(readCheckpoint(file)).toBe(99)
    expect(fs.readdirSync(dir)).toEqual(['recovery-point'])
  })

  test('garbage, empty, zero-filled and negative contents read as no checkpoint', ({ dir }) => {
    const file = path.join(dir, 'recovery-point')
    for (const content of ['', '\0\0\0\0', 'abc\n', '-5\n', '12', '12\n13\n', '99999999999999999999\n']) {
      fs.writeFileSync(file, content)
      expect(readCheckpoint(file), JSON.stringify(content)).toBeUndefined()
    }
  })
})

describe('clean-shutdown marker', () => {
  test('is an empty file', ({ dir }) => {
    const file = path.join(dir, 'clean-shutdown')
    expect(hasMarker(file)).toBe(false)
    writeMarker(file)
    expect(hasMarker(file)).toBe(true)
    expect(fs.statSync(file).size).toBe(0)
  })
})
