/**
 * Batch scanner contract: walks back-to-back batches through a read window of any size, returns
 * `end` exactly at the end and `bad` with the reason and position of the first damaged batch;
 * header-only walks skip the CRC, verify walks check it.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { BatchScanner } from '../../../src/storage/batch-scanner.js'
import { stampBatch } from '../../../src/storage/record-batch.js'
import { batchOf, test } from './storage-fixtures.js'

function writeBatches(file: string, count: number): Buffer {
  const batches = Array.from({ length: count }, (_, i) => {
    const b = batchOf(`k${i}`, 1 + (i % 4))
    stampBatch(b, i * 10, 0)
    return b
  })
  const bytes = Buffer.concat(batches)
  fs.writeFileSync(file, bytes)
  return bytes
}

function walk(fd: number, end: number, verify: boolean, chunkBytes: number) {
  const scanner = new BatchScanner(fd, { start: 0, end, verify, chunkBytes })
  const offsets: number[] = []
  for (;;) {
    const step = scanner.next()
    if (step.kind !== 'batch') return { offsets, last: step }
    offsets.push(step.header.baseOffset)
  }
}

describe('BatchScanner', () => {
  test('walks every batch with any window size, in both modes', ({ dir }) => {
    const file = path.join(dir, 'a.log')
    const bytes = writeBatches(file, 30)
    const fd = fs.openSync(file, 'r')
    for (const chunkBytes of [61, 100, 1000, 1 << 20]) {
      for (const verify of [false, true]) {
        const { offsets, last } = walk(fd, bytes.length, verify, chunkBytes)
        expect(offsets).toEqual(Array.from({ length: 30 }, (_, i) => i * 10))
        expect(last).toEqual({ kind: 'end', position: bytes.length })
      }
    }
    fs.closeSync(fd)
  })

  test('reports the first bad batch with its position and reason', ({ dir }) => {
    const file = path.join(dir, 'b.log')
    const bytes = writeBatches(file, 5)
    const size = bytes.readInt32BE(8) + 12
    const secondSize = bytes.readInt32BE(size + 8) + 12
    bytes[size + 40] = (bytes[size + 40] ?? 0) ^ 1
    fs.writeFileSync(file, bytes)
    const fd = fs.openSync(file, 'r')
    expect(walk(fd, bytes.length, true, 4096).last).toEqual({
      kind: 'bad',
      position: size,
      reason: 'crc mismatch',
    })
    expect(walk(fd, bytes.length, false, 4096).offsets).toHaveLength(5)
    expect(walk(fd, size + secondSize - 1, false, 4096).last).toEqual({
      kind: 'bad',
      position: size,
      reason: 'short',
    })
    expect(walk(fd, size + 30, false, 4096).last).toEqual({ kind: 'bad', position: size, reason: 'short' })
    fs.closeSync(fd)
  })
})
