/**
 * Records between the wire and the log, in MessagePack, without decoding on the read path.
 *
 * A stored record body is four map entries with no map header (storage/README.md):
 * `"timestamp" <int>, "key" <any>, "value" <any>, "headers" <map>`. A fetch writes
 * `0x85 "offset" <uint>` in front of each body (or `0x87 "topic" … "partition" … "offset" …`
 * for a group fetch) and so builds its response by copying bytes, never re-encoding a record.
 *
 * Untrusted input is decoded with `wireUnpackr`: no records/structured-clone references (a
 * cyclic value cannot be smuggled in), 64-bit integers as numbers when safe and BigInt past
 * that (re-encoded as int64), and never `trusted`. Deep nesting makes msgpackr throw a
 * RangeError, which the edge answers with 400.
 */
import { Packr, Unpackr } from 'msgpackr'

export const wireUnpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  // 'auto' (numbers when safe, BigInt past 2^53) works at runtime but is missing from the typings.
  int64AsType: 'auto' as 'bigint',
})

export const wirePackr = new Packr({
  useRecords: false,
  structuredClone: false,
  // Plain JS numbers that are integers pack as msgpack ints; others as float64.
  useFloat32: 0,
})

/** A record as the API describes it, after the edge validated it. */
export interface RecordInput {
  key?: unknown
  value: unknown
  headers?: Record<string, string | Uint8Array> | undefined
  timestamp?: number | undefined
}

const KEY_TIMESTAMP = Buffer.from([0xa9, ...Buffer.from('timestamp')])
const KEY_KEY = Buffer.from([0xa3, ...Buffer.from('key')])
const KEY_VALUE = Buffer.from([0xa5, ...Buffer.from('value')])
const KEY_HEADERS = Buffer.from([0xa7, ...Buffer.from('headers')])
const KEY_OFFSET = Buffer.from([0xa6, ...Buffer.from('offset')])
const KEY_TOPIC = Buffer.from([0xa5, ...Buffer.from('topic')])
const KEY_PARTITION = Buffer.from([0xa9, ...Buffer.from('partition')])
const NIL = Buffer.from([0xc0])
const EMPTY_MAP = Buffer.from([0x80])

/** Bytes a msgpack unsigned integer takes in its shortest form. */
export function uintSize(n: number): number {
  if (n < 0x80) return 1
  if (n < 0x100) return 2
  if (n < 0x10000) return 3
  if (n < 0x100000000) return 5
  return 9
}

/** Writes a non-negative safe integer in msgpack's shortest form; returns the new position. */
export function writeUint(buf: Buffer, pos: number, n: number): number {
  if (n < 0x80) {
    buf[pos] = n
    return pos + 1
  }
  if (n < 0x100) {
    buf[pos] = 0xcc
    buf[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    buf[pos] = 0xcd
    buf.writeUInt16BE(n, pos + 1)
    return pos + 3
  }
  if (n < 0x100000000) {
    buf[pos] = 0xce
    buf.writeUInt32BE(n, pos + 1)
    return pos + 5
  }
  // Two 32-bit halves rather than a BigInt: millisecond timestamps take this branch on every record.
  buf[pos] = 0xcf
  buf.writeUInt32BE(Math.floor(n / 0x100000000), pos + 1)
  buf.writeUInt32BE(n >>> 0, pos + 5)
  return pos + 9
}

/** Bytes of a msgpack bin header for `length` bytes. */
function binHeaderSize(length: number): number {
  if (length < 0x100) return 2
  if (length < 0x10000) return 3
  return 5
}

/** Writes a bin header and the bytes, as msgpackr packs a Uint8Array; returns the new position. */
function writeBin(buf: Buffer, pos: number, bytes: Uint8Array): number {
  const length = bytes.length
  if (length < 0x100) {
    buf[pos] = 0xc4
    buf[pos + 1] = length
    pos += 2
  } else if (length < 0x10000) {
    buf[pos] = 0xc5
    buf.writeUInt16BE(length, pos + 1)
    pos += 3
  } else {
    buf[pos] = 0xc6
    buf.writeUInt32BE(length, pos + 1)
    pos += 5
  }
  buf.set(bytes, pos)
  return pos + length
}

/** A record key's MessagePack bytes (nil when absent): the partitioner hashes these very bytes. */
export function encodeKey(key: unknown): Buffer {
  return key === undefined || key === null ? NIL : wirePackr.pack(key)
}

/**
 * Encodes one record body (the four entries, no map header) as it will sit in the log, into one
 * buffer of its exact size. A bytes value, the commonest, is written here as msgpackr would (a bin
 * header and the bytes): a msgpackr call per record costs more than the copy itself.
 */
export function encodeRecordBody(record: RecordInput, defaultTimestamp: number, keyBytes?: Buffer): Buffer {
  const key = keyBytes ?? encodeKey(record.key)
  const raw = record.value
  const bytes = raw instanceof Uint8Array ? raw : undefined
  const value = bytes === undefined ? wirePackr.pack(raw) : undefined
  const headers = record.headers === undefined ? EMPTY_MAP : wirePackr.pack(record.headers)
  // Timestamps before 1970 are allowed by msgpack but not by us (the edge checks >= 0).
  const timestamp = record.timestamp ?? defaultTimestamp
  const valueSize =
    bytes === undefined ? (value as Buffer).length : binHeaderSize(bytes.length) + bytes.length
  const out = Buffer.allocUnsafe(
    KEY_TIMESTAMP.length +
      uintSize(timestamp) +
      KEY_KEY.length +
      key.length +
      KEY_VALUE.length +
      valueSize +
      KEY_HEADERS.length +
      headers.length,
  )
  out.set(KEY_TIMESTAMP, 0)
  let pos = writeUint(out, KEY_TIMESTAMP.length, timestamp)
  out.set(KEY_KEY, pos)
  pos += KEY_KEY.length
  out.set(key, pos)
  pos += key.length
  out.set(KEY_VALUE, pos)
  pos += KEY_VALUE.length
  if (bytes === undefined) {
    out.set(value as Buffer, pos)
    pos += (value as Buffer).length
  } else pos = writeBin(out, pos, bytes)
  out.set(KEY_HEADERS, pos)
  pos += KEY_HEADERS.length
  out.set(headers, pos)
  return out
}

/** Reads a msgpack unsigned integer (any width) at `pos`. */
export function readUint(buf: Buffer, pos: number): number {
  const tag = buf[pos] as number
  if (tag < 0x80) return tag
  if (tag === 0xcc) return buf.readUInt8(pos + 1)
  if (tag === 0xcd) return buf.readUInt16BE(pos + 1)
  if (tag === 0xce) return buf.readUInt32BE(pos + 1)
  if (tag === 0xcf) return Number(buf.readBigUInt64BE(pos + 1))
  throw new RangeError(`not a msgpack unsigned integer: 0x${tag.toString(16)}`)
}

/** A stored record body's timestamp, without decoding the rest (it is always the first entry). */
export function recordTimestamp(body: Buffer): number {
  return readUint(body, KEY_TIMESTAMP.length)
}

/** The pre-encoded `"topic" <str> "partition" <uint>` entries a group fetch adds to each record. */
export function groupRecordPrefix(topic: string, partition: number): Buffer {
  const topicBytes = wirePackr.pack(topic)
  const part = Buffer.allocUnsafe(uintSize(partition))
  writeUint(part, 0, partition)
  return Buffer.concat([KEY_TOPIC, topicBytes, KEY_PARTITION, part])
}

/** One record located inside a raw batch. */
export interface RecordSlice {
  offset: number
  start: number
  length: number
  batch: Buffer
}

const RECORDS_KEY = Buffer.from([0xa7, ...Buffer.from('records')])
const NEXT_OFFSET_KEY = Buffer.from([0xaa, ...Buffer.from('nextOffset')])
const HIGH_WATERMARK_KEY = Buffer.from([0xad, ...Buffer.from('highWatermark')])
const LOG_START_KEY = Buffer.from([0xae, ...Buffer.from('logStartOffset')])

/** Size of one record as a fetch writes it (map header + entries). */
function recordSize(slice: RecordSlice, prefix: Buffer | undefined): number {
  return 1 + KEY_OFFSET.length + uintSize(slice.offset) + slice.length + (prefix?.length ?? 0)
}

function writeRecord(out: Buffer, pos: number, slice: RecordSlice, prefix: Buffer | undefined): number {
  out[pos++] = prefix === undefined ? 0x85 : 0x87
  if (prefix !== undefined) pos += prefix.copy(out, pos)
  pos += KEY_OFFSET.copy(out, pos)
  pos = writeUint(out, pos, slice.offset)
  pos += slice.batch.copy(out, pos, slice.start, slice.start + slice.length)
  return pos
}

/** Records back to back, each a complete 7-entry map with topic and partition (group fetch). */
export function buildGroupRecords(slices: readonly RecordSlice[], prefix: Buffer, ends?: number[]): Buffer {
  let size = 0
  for (const s of slices) size += recordSize(s, prefix)
  const out = Buffer.allocUnsafeSlow(size)
  let pos = 0
  for (const s of slices) {
    pos = writeRecord(out, pos, s, prefix)
    ends?.push(pos)
  }
  return out
}

/** The whole partition fetch body: `{records, nextOffset, highWatermark, logStartOffset}`. */
export function buildPartitionFetchBody(
  slices: readonly RecordSlice[],
  nextOffset: number,
  highWatermark: number,
  logStartOffset: number,
): Buffer {
  let size = 1 + RECORDS_KEY.length + 5
  for (const s of slices) size += recordSize(s, undefined)
  size += NEXT_OFFSET_KEY.length + uintSize(nextOffset)
  size += HIGH_WATERMARK_KEY.length + uintSize(highWatermark)
  size += LOG_START_KEY.length + uintSize(logStartOffset)
  const out = Buffer.allocUnsafeSlow(size)
  let pos = 0
  out[pos++] = 0x84
  pos += RECORDS_KEY.copy(out, pos)
  out[pos++] = 0xdd // array 32: the count is known only now, and 5 bytes is a fixed cost.
  out.writeUInt32BE(slices.length, pos)
  pos += 4
  for (const s of slices) pos = writeRecord(out, pos, s, undefined)
  pos += NEXT_OFFSET_KEY.copy(out, pos)
  pos = writeUint(out, pos, nextOffset)
  pos += HIGH_WATERMARK_KEY.copy(out, pos)
  pos = writeUint(out, pos, highWatermark)
  pos += LOG_START_KEY.copy(out, pos)
  pos = writeUint(out, pos, logStartOffset)
  return out
}

/** Wraps records written back to back (group format) into a msgpack array of `count` elements. */
export function arrayHeader(count: number): Buffer {
  const out = Buffer.allocUnsafe(5)
  out[0] = 0xdd
  out.writeUInt32BE(count, 1)
  return out
}

/**
 * Makes a decoded MessagePack value JSON-safe for a JSON reader: bytes become `{"$base64": …}`,
 * BigInts become numbers when safe (else decimal strings), Dates become their epoch ms.
 */
export function toJsonValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') {
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString()
    }
    return value
  }
  if (value instanceof Uint8Array)
    return { $base64: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64') }
  if (Array.isArray(value)) return value.map(toJsonValue)
  if (value instanceof Date) return value.getTime()
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v)
  return out
}

/** `{"$base64": "…"}` in a JSON request means bytes, so JSON clients can send binary too. */
export function fromJsonValue(value: unknown): unknown {
  if (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { $base64?: unknown }).$base64 === 'string'
  ) {
    return Buffer.from((value as { $base64: string }).$base64, 'base64')
  }
  return value
}
