/**
 * Record batch codec contract (README "Record batch"): Kafka's 61-byte v2 header at exact
 * big-endian positions, CRC32C over [21, end), uint32 length-prefixed records; validation names
 * the problem (short, bad length, bad magic, crc mismatch) and malformed record lengths are refused.
 * The golden bytes in test/fixtures/storage/two-record-batch.hex were checked field by field and
 * against an independent bitwise CRC32C.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  BATCH_HEADER_SIZE,
  BatchProblems,
  batchCrc,
  buildBatch,
  checkBatchStructure,
  readBatchHeader,
  readInt64,
  recordSlices,
  stampBatch,
  validateBatch,
  writeBatchHeader,
  writeInt64,
} from '../../../src/storage/record-batch.js'

const fixture = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../fixtures/storage/two-record-batch.hex',
)

function goldenBatch(): Buffer {
  const batch = buildBatch({
    records: [Buffer.from('hello'), Buffer.from('world!')],
    timestamps: [1_700_000_000_000, 1_700_000_000_005],
    producerId: 7,
    producerEpoch: 1,
    baseSequence: 3,
  })
  stampBatch(batch, 42, 5)
  return batch
}

describe('golden bytes', () => {
  test('a stamped 2-record batch matches the fixture byte for byte', () => {
    const expected = Buffer.from(fs.readFileSync(fixture, 'utf8').replace(/\s+/g, ''), 'hex')
    expect(goldenBatch().toString('hex')).toBe(expected.toString('hex'))
  })

  test('every header field sits at its position', () => {
    const b = goldenBatch()
    expect(b.length).toBe(61 + 4 + 5 + 4 + 6)
    expect(b.readBigInt64BE(0)).toBe(42n)
    expect(b.readInt32BE(8)).toBe(b.length - 12)
    expect(b.readInt32BE(12)).toBe(5)
    expect(b.readInt8(16)).toBe(1)
    expect(b.readUInt32BE(17)).toBe(0xe99fd17a)
    expect(b.readInt16BE(21)).toBe(0)
    expect(b.readInt32BE(23)).toBe(1)
    expect(b.readBigInt64BE(27)).toBe(1_700_000_000_000n)
    expect(b.readBigInt64BE(35)).toBe(1_700_000_000_005n)
    expect(b.readBigInt64BE(43)).toBe(7n)
    expect(b.readInt16BE(51)).toBe(1)
    expect(b.readInt32BE(53)).toBe(3)
    expect(b.readInt32BE(57)).toBe(2)
    expect(b.readUInt32BE(61)).toBe(5)
    expect(b.subarray(65, 70).toString()).toBe('hello')
    expect(b.readUInt32BE(70)).toBe(6)
    expect(b.subarray(74, 80).toString()).toBe('world!')
  })

  test('readBatchHeader and writeBatchHeader agree with the positions', () => {
    const b = goldenBatch()
    const header = readBatchHeader(b)
    expect(header).toEqual({
      baseOffset: 42,
      batchLength: 68,
      leaderEpoch: 5,
      magic: 1,
      crc: 0xe99fd17a,
      attributes: 0,
      lastOffsetDelta: 1,
      firstTimestamp: 1_700_000_000_000,
      maxTimestamp: 1_700_000_000_005,
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 3,
      recordCount: 2,
    })
    const copy = Buffer.alloc(BATCH_HEADER_SIZE)
    writeBatchHeader(copy, header)
    expect(copy.equals(b.subarray(0, BATCH_HEADER_SIZE))).toBe(true)
  })
})

describe('buildBatch', () => {
  test('allocates one buffer with its own ArrayBuffer, baseOffset 0 and crc 0', () => {
    const b = buildBatch({ records: [Buffer.from('x')], firstTimestamp: 10 })
    expect(b.byteOffset).toBe(0)
    expect(b.buffer.byteLength).toBe(b.length)
    const header = readBatchHeader(b)
    expect(header).toMatchObject({
      baseOffset: 0,
      crc: 0,
      producerId: -1,
      producerEpoch: -1,
      baseSequence: -1,
    })
    expect(header.maxTimestamp).toBe(10)
  })

  test('derives first and max timestamps from per-record timestamps', () => {
    const b = buildBatch({
      records: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')],
      timestamps: [50, 90, 70],
    })
    expect(readBatchHeader(b)).toMatchObject({
      firstTimestamp: 50,
      maxTimestamp: 90,
      recordCount: 3,
      lastOffsetDelta: 2,
    })
  })

  test('refuses an empty batch', () => {
    expect(() => buildBatch({ records: [] })).toThrow(RangeError)
  })
})

describe('validateBatch', () => {
  test('accepts a stamped batch and reports its size, at any position in a buffer', () => {
    const b = goldenBatch()
    expect(validateBatch(b)).toEqual({ ok: true, size: 80 })
    const padded = Buffer.concat([Buffer.alloc(13), b, Buffer.alloc(5)])
    expect(validateBatch(padded, 13)).toEqual({ ok: true, size: 80 })
  })

  test('names each problem', () => {
    const b = goldenBatch()
    expect(validateBatch(b.subarray(0, 11))).toEqual({ ok: false, reason: BatchProblems.SHORT })
    expect(validateBatch(b.subarray(0, 79))).toEqual({ ok: false, reason: BatchProblems.SHORT })
    expect(validateBatch(Buffer.alloc(100))).toEqual({ ok: false, reason: BatchProblems.BAD_LENGTH })
    const negative = Buffer.from(b)
    negative.writeInt32BE(-5, 8)
    expect(validateBatch(negative)).toEqual({ ok: false, reason: BatchProblems.BAD_LENGTH })
    const magic = Buffer.from(b)
    magic[16] = 2
    expect(validateBatch(magic)).toEqual({ ok: false, reason: BatchProblems.BAD_MAGIC })
    for (const pos of [17, 21, 30, 60, 61, 79]) {
      const flipped = Buffer.from(b)
      flipped[pos] = (flipped[pos] ?? 0) ^ 1
      expect(validateBatch(flipped)).toEqual({ ok: false, reason: BatchProblems.CRC_MISMATCH })
    }
  })

  test('baseOffset and leaderEpoch are outside the CRC', () => {
    const b = goldenBatch()
    const crc = batchCrc(b)
    stampBatch(b, 1_000_000, 9)
    expect(batchCrc(b)).toBe(crc)
  })
})

describe('checkBatchStructure', () => {
  test('accepts a built batch', () => {
    expect(checkBatchStructure(goldenBatch())).toBeUndefined()
  })

  test('rejects malformed lengths and counts', () => {
    const b = goldenBatch()
    const cases: Array<[string, (x: Buffer) => Buffer]> = [
      ['too short', (x) => x.subarray(0, 60)],
      [
        'length field too big',
        (x) => {
          x.writeInt32BE(69, 8)
          return x
        },
      ],
      ['trailing bytes', (x) => Buffer.concat([x, Buffer.alloc(1)])],
      [
        'record overruns',
        (x) => {
          x.writeUInt32BE(6, 61)
          return x
        },
      ],
      [
        'record too short',
        (x) => {
          x.writeUInt32BE(4, 61)
          return x
        },
      ],
      [
        'huge record length',
        (x) => {
          x.writeUInt32BE(0xffffffff, 70)
          return x
        },
      ],
      [
        'count too big',
        (x) => {
          x.writeInt32BE(3, 57)
          return x
        },
      ],
      [
        'count zero',
        (x) => {
          x.writeInt32BE(0, 57)
          x.writeInt32BE(-1, 23)
          return x
        },
      ],
      [
        'delta mismatch',
        (x) => {
          x.writeInt32BE(0, 23)
          return x
        },
      ],
      [
        'magic',
        (x) => {
          x[16] = 0
          return x
        },
      ],
    ]
    for (const [name, mutate] of cases) {
      expect(checkBatchStructure(mutate(Buffer.from(b))), name).toBeDefined()
    }
  })
})

describe('recordSlices', () => {
  test('yields each record body with its offset', () => {
    const slices = [...recordSlices(goldenBatch())].map((s) => ({
      offset: s.offset,
      text: s.bytes.toString(),
    }))
    expect(slices).toEqual([
      { offset: 42, text: 'hello' },
      { offset: 43, text: 'world!' },
    ])
  })

  test('handles empty records and throws on an overrun', () => {
    const b = buildBatch({ records: [Buffer.alloc(0), Buffer.from('z')], firstTimestamp: 1 })
    expect([...recordSlices(b)].map((s) => s.bytes.length)).toEqual([0, 1])
    b.writeUInt32BE(100, 61)
    expect(() => [...recordSlices(b)]).toThrow(RangeError)
  })
})

describe('int64 helpers', () => {
  test('round-trip negative, zero and large safe integers', () => {
    const buf = Buffer.alloc(8)
    for (const value of [-1, 0, 1, 2 ** 32, 2 ** 32 - 1, -(2 ** 40), Number.MAX_SAFE_INTEGER, -12345678901]) {
      writeInt64(buf, value, 0)
      expect(buf.readBigInt64BE(0)).toBe(BigInt(value))
      expect(readInt64(buf, 0)).toBe(value)
    }
  })
})
