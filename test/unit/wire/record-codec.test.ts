/**
 * The record body encoder writes the bytes msgpackr would: a bytes value written directly (bin
 * header and the bytes) equals msgpackr's packing of it at every header width, other values go
 * through msgpackr unchanged, and 64-bit timestamps are written without a BigInt yet read back exact.
 */
import { describe, expect, test } from 'vitest'
import {
  encodeKey,
  encodeRecordBody,
  readUint,
  recordTimestamp,
  wirePackr,
  writeUint,
} from '../../../src/wire/record-codec.js'

/** A uint as storage writes it: msgpackr's form up to 32 bits, uint64 (0xcf) past that. */
function uintBytes(n: number): Buffer {
  if (n < 2 ** 32) return wirePackr.pack(n)
  const out = Buffer.alloc(9)
  out[0] = 0xcf
  out.writeBigUInt64BE(BigInt(n), 1)
  return out
}

/** The body as four msgpackr-packed entries, as the encoder is specified (storage/README.md). */
function expectedBody(
  record: { key?: unknown; value: unknown; headers?: Record<string, string | Uint8Array> },
  ts: number,
): Buffer {
  return Buffer.concat([
    wirePackr.pack('timestamp'),
    uintBytes(ts),
    wirePackr.pack('key'),
    encodeKey(record.key),
    wirePackr.pack('value'),
    wirePackr.pack(record.value),
    wirePackr.pack('headers'),
    record.headers === undefined ? Buffer.from([0x80]) : wirePackr.pack(record.headers),
  ])
}

describe('encodeRecordBody', () => {
  test.each([0, 1, 255, 256, 65_535, 65_536, 70_000])(
    'a %i-byte Buffer value is written as msgpackr writes it',
    (length) => {
      const value = Buffer.alloc(length, 0x62)
      const ts = 1_700_000_000_123
      expect(encodeRecordBody({ value }, ts).equals(expectedBody({ value }, ts))).toBe(true)
    },
  )

  test('a plain Uint8Array value, a key and headers', () => {
    const record = {
      key: 'k-1',
      value: new Uint8Array([1, 2, 3]),
      headers: { trace: 't', raw: Buffer.from([9]) },
    }
    const body = encodeRecordBody(record, 5)
    expect(body.equals(expectedBody(record, 5))).toBe(true)
    expect(recordTimestamp(body)).toBe(5)
  })

  test.each([
    ['a string', 'hello'],
    ['an object', { a: [1, null, true], b: { c: 'd' } }],
    ['a number', -1.5],
    ['null', null],
  ])('%s value goes through msgpackr unchanged', (_name, value) => {
    const record = { value, timestamp: 42 }
    expect(encodeRecordBody(record, 1).equals(expectedBody({ value }, 42))).toBe(true)
  })
})

describe('writeUint', () => {
  test.each([
    0,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    2 ** 32 - 1,
    2 ** 32,
    1_700_000_000_123,
    Number.MAX_SAFE_INTEGER,
  ])('%i takes its shortest form and reads back exact', (n) => {
    const buf = Buffer.alloc(9)
    const end = writeUint(buf, 0, n)
    expect(readUint(buf, 0)).toBe(n)
    if (n >= 2 ** 32) {
      const expected = Buffer.alloc(9)
      expected[0] = 0xcf
      expected.writeBigUInt64BE(BigInt(n), 1)
      expect(buf.equals(expected)).toBe(true)
      expect(end).toBe(9)
    } else expect(end).toBeLessThan(9)
  })
})
