/**
 * Record batch codec: the unit of write, checksum and replication.
 *
 * On disk (Kafka's v2 layout, big-endian, README.md has the table): a 61-byte header, then
 * `recordCount` records, each a uint32 length and that many opaque bytes (MessagePack map entries
 * that the fetch path completes into a map without decoding them).
 *
 *   0 baseOffset int64 | 8 batchLength int32 | 12 leaderEpoch int32 | 16 magic int8 | 17 crc uint32
 *   21 attributes int16 | 23 lastOffsetDelta int32 | 27 firstTimestamp int64 | 35 maxTimestamp int64
 *   43 producerId int64 | 51 producerEpoch int16 | 53 baseSequence int32 | 57 recordCount int32 | 61 records
 *
 * Invariants: batchLength = total size − 12; magic = 1; recordCount ≥ 1; lastOffsetDelta =
 * recordCount − 1; the CRC32C covers bytes [21, end), so baseOffset and leaderEpoch can be stamped
 * by the log without touching the records. Offsets are JS numbers, exact up to 2^53.
 *
 * Thread: pure functions, callable from any thread.
 * Crash: a torn write leaves a batch whose length runs past the end of the file, a zero-filled
 * header or a CRC mismatch; `validateBatch` says which, and recovery decides what to do.
 */
import { crc32c } from '@node-rs/crc32'

export const BASE_OFFSET_OFFSET = 0
export const BATCH_LENGTH_OFFSET = 8
export const LEADER_EPOCH_OFFSET = 12
export const MAGIC_OFFSET = 16
export const CRC_OFFSET = 17
export const ATTRIBUTES_OFFSET = 21
export const LAST_OFFSET_DELTA_OFFSET = 23
export const FIRST_TIMESTAMP_OFFSET = 27
export const MAX_TIMESTAMP_OFFSET = 35
export const PRODUCER_ID_OFFSET = 43
export const PRODUCER_EPOCH_OFFSET = 51
export const BASE_SEQUENCE_OFFSET = 53
export const RECORD_COUNT_OFFSET = 57
export const RECORDS_OFFSET = 61
export const BATCH_HEADER_SIZE = 61
/** baseOffset (8) + batchLength (4): the bytes not counted by batchLength. */
export const LOG_OVERHEAD = 12
/** The smallest legal batchLength: a header with no records (61 − 12). */
export const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
/** The CRC covers everything from attributes to the end. */
export const CRC_START = ATTRIBUTES_OFFSET
export const CURRENT_MAGIC = 1
export const RECORD_LENGTH_PREFIX_SIZE = 4
export const NO_PRODUCER_ID = -1
export const NO_PRODUCER_EPOCH = -1
export const NO_SEQUENCE = -1

export interface BatchHeader {
  baseOffset: number
  batchLength: number
  leaderEpoch: number
  magic: number
  crc: number
  attributes: number
  lastOffsetDelta: number
  firstTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  recordCount: number
}

export const BatchProblems = {
  SHORT: 'short',
  BAD_LENGTH: 'bad length',
  BAD_MAGIC: 'bad magic',
  CRC_MISMATCH: 'crc mismatch',
  BAD_RECORDS: 'bad records',
} as const
export type BatchProblem = (typeof BatchProblems)[keyof typeof BatchProblems]

export type BatchCheck = { ok: true; size: number } | { ok: false; reason: BatchProblem }

const TWO_POW_32 = 4294967296

/** Reads an int64 as a JS number; hi * 2^32 + lo is exact for |value| < 2^53 and handles −1. */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_POW_32 + buf.readUInt32BE(pos + 4)
}

export function writeInt64(buf: Buffer, value: number, pos: number): void {
  const hi = Math.floor(value / TWO_POW_32)
  buf.writeInt32BE(hi, pos)
  buf.writeUInt32BE(value - hi * TWO_POW_32, pos + 4)
}

export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + BASE_OFFSET_OFFSET),
    batchLength: buf.readInt32BE(pos + BATCH_LENGTH_OFFSET),
    leaderEpoch: buf.readInt32BE(pos + LEADER_EPOCH_OFFSET),
    magic: buf.readInt8(pos + MAGIC_OFFSET),
    crc: buf.readUInt32BE(pos + CRC_OFFSET),
    attributes: buf.readInt16BE(pos + ATTRIBUTES_OFFSET),
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET),
    firstTimestamp: readInt64(buf, pos + FIRST_TIMESTAMP_OFFSET),
    maxTimestamp: readInt64(buf, pos + MAX_TIMESTAMP_OFFSET),
    producerId: readInt64(buf, pos + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(pos + RECORD_COUNT_OFFSET),
  }
}

export function writeBatchHeader(buf: Buffer, header: BatchHeader, pos = 0): void {
  writeInt64(buf, header.baseOffset, pos + BASE_OFFSET_OFFSET)
  buf.writeInt32BE(header.batchLength, pos + BATCH_LENGTH_OFFSET)
  buf.writeInt32BE(header.leaderEpoch, pos + LEADER_EPOCH_OFFSET)
  buf.writeInt8(header.magic, pos + MAGIC_OFFSET)
  buf.writeUInt32BE(header.crc >>> 0, pos + CRC_OFFSET)
  buf.writeInt16BE(header.attributes, pos + ATTRIBUTES_OFFSET)
  buf.writeInt32BE(header.lastOffsetDelta, pos + LAST_OFFSET_DELTA_OFFSET)
  writeInt64(buf, header.firstTimestamp, pos + FIRST_TIMESTAMP_OFFSET)
  writeInt64(buf, header.maxTimestamp, pos + MAX_TIMESTAMP_OFFSET)
  writeInt64(buf, header.producerId, pos + PRODUCER_ID_OFFSET)
  buf.writeInt16BE(header.producerEpoch, pos + PRODUCER_EPOCH_OFFSET)
  buf.writeInt32BE(header.baseSequence, pos + BASE_SEQUENCE_OFFSET)
  buf.writeInt32BE(header.recordCount, pos + RECORD_COUNT_OFFSET)
}

/** The batch's size on disk, from its length field. */
export function batchSize(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD
}

export function batchLastOffset(header: BatchHeader): number {
  return header.baseOffset + header.lastOffsetDelta
}

/** CRC32C of bytes [21, end) of one whole batch. */
export function batchCrc(batch: Buffer): number {
  return crc32c(batch.subarray(CRC_START)) >>> 0
}

/** Stamps the fields the log owns (offset, epoch) and the CRC that depends on nothing else. */
export function stampBatch(batch: Buffer, baseOffset: number, leaderEpoch: number): void {
  writeInt64(batch, baseOffset, BASE_OFFSET_OFFSET)
  batch.writeInt32BE(leaderEpoch, LEADER_EPOCH_OFFSET)
  batch.writeUInt32BE(batchCrc(batch), CRC_OFFSET)
}

/**
 * Checks the batch that starts at `pos`: enough bytes, a sane length, magic 1 and a matching CRC.
 * `short` means the buffer (or file) ends inside the batch, which is what a torn write looks like.
 */
export function validateBatch(buf: Buffer, pos = 0): BatchCheck {
  const remaining = buf.length - pos
  if (remaining < LOG_OVERHEAD) return { ok: false, reason: BatchProblems.SHORT }
  const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_OFFSET)
  if (batchLength < MIN_BATCH_LENGTH) return { ok: false, reason: BatchProblems.BAD_LENGTH }
  const size = batchLength + LOG_OVERHEAD
  if (remaining < size) return { ok: false, reason: BatchProblems.SHORT }
  if (buf.readInt8(pos + MAGIC_OFFSET) !== CURRENT_MAGIC)
    return { ok: false, reason: BatchProblems.BAD_MAGIC }
  const stored = buf.readUInt32BE(pos + CRC_OFFSET)
  if (crc32c(buf.subarray(pos + CRC_START, pos + size)) >>> 0 !== stored) {
    return { ok: false, reason: BatchProblems.CRC_MISMATCH }
  }
  return { ok: true, size }
}

/**
 * Checks the structure a producer is responsible for, without the CRC (the leader computes it):
 * the buffer is exactly one batch, magic 1, recordCount ≥ 1 matching lastOffsetDelta, and the
 * record length prefixes walk exactly to the end. Returns the problem, or undefined when sound.
 */
export function checkBatchStructure(batch: Buffer): BatchProblem | undefined {
  if (batch.length < BATCH_HEADER_SIZE) return BatchProblems.SHORT
  if (batch.readInt32BE(BATCH_LENGTH_OFFSET) !== batch.length - LOG_OVERHEAD) return BatchProblems.BAD_LENGTH
  if (batch.readInt8(MAGIC_OFFSET) !== CURRENT_MAGIC) return BatchProblems.BAD_MAGIC
  const recordCount = batch.readInt32BE(RECORD_COUNT_OFFSET)
  if (recordCount < 1 || batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET) !== recordCount - 1) {
    return BatchProblems.BAD_RECORDS
  }
  return walkRecords(batch, recordCount) === batch.length ? undefined : BatchProblems.BAD_RECORDS
}

/** Follows `count` length prefixes from the header; returns the end position, or −1 if one overruns. */
function walkRecords(batch: Buffer, count: number): number {
  let pos = RECORDS_OFFSET
  for (let i = 0; i < count; i++) {
    if (pos + RECORD_LENGTH_PREFIX_SIZE > batch.length) return -1
    pos += RECORD_LENGTH_PREFIX_SIZE + batch.readUInt32BE(pos)
    if (pos > batch.length) return -1
  }
  return pos
}

export interface RecordSlice {
  offset: number
  bytes: Buffer
}

/** Each record's body (without its length prefix) and offset, as views into the batch. */
export function* recordSlices(batch: Buffer): Generator<RecordSlice> {
  const baseOffset = readInt64(batch, BASE_OFFSET_OFFSET)
  const count = batch.readInt32BE(RECORD_COUNT_OFFSET)
  const end = batchSize(batch)
  let pos = RECORDS_OFFSET
  for (let i = 0; i < count; i++) {
    if (pos + RECORD_LENGTH_PREFIX_SIZE > end) throw new RangeError(`record ${i} overruns the batch`)
    const length = batch.readUInt32BE(pos)
    const start = pos + RECORD_LENGTH_PREFIX_SIZE
    if (start + length > end) throw new RangeError(`record ${i} overruns the batch`)
    yield { offset: baseOffset + i, bytes: batch.subarray(start, start + length) }
    pos = start + length
  }
}

export interface BatchInput {
  /** Record bodies: four MessagePack map entries each, opaque to storage. */
  records: readonly Uint8Array[]
  /** One timestamp per record; first and max are derived from them when given. */
  timestamps?: readonly number[]
  firstTimestamp?: number
  maxTimestamp?: number
  producerId?: number
  producerEpoch?: number
  baseSequence?: number
}

/**
 * Builds one batch in ONE buffer allocated with allocUnsafeSlow (its own ArrayBuffer, so it can be
 * transferred to the partition's worker). baseOffset and crc are 0: the leader's log stamps them.
 */
export function buildBatch(input: BatchInput): Buffer {
  const count = input.records.length
  if (count < 1) throw new RangeError('a record batch needs at least one record')
  let size = BATCH_HEADER_SIZE
  for (const record of input.records) size += RECORD_LENGTH_PREFIX_SIZE + record.length
  const batch = Buffer.allocUnsafeSlow(size)
  const { firstTimestamp, maxTimestamp } = batchTimestamps(input)
  writeBatchHeader(batch, {
    baseOffset: 0,
    batchLength: size - LOG_OVERHEAD,
    leaderEpoch: 0,
    magic: CURRENT_MAGIC,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: count - 1,
    firstTimestamp,
    maxTimestamp,
    producerId: input.producerId ?? NO_PRODUCER_ID,
    producerEpoch: input.producerEpoch ?? NO_PRODUCER_EPOCH,
    baseSequence: input.baseSequence ?? NO_SEQUENCE,
    recordCount: count,
  })
  let pos = RECORDS_OFFSET
  for (const record of input.records) {
    batch.writeUInt32BE(record.length, pos)
    batch.set(record, pos + RECORD_LENGTH_PREFIX_SIZE)
    pos += RECORD_LENGTH_PREFIX_SIZE + record.length
  }
  return batch
}

function batchTimestamps(input: BatchInput): { firstTimestamp: number; maxTimestamp: number } {
  const { timestamps } = input
  if (timestamps !== undefined && timestamps.length > 0) {
    let max = timestamps[0] ?? 0
    for (const ts of timestamps) if (ts > max) max = ts
    return { firstTimestamp: timestamps[0] ?? max, maxTimestamp: max }
  }
  const first = input.firstTimestamp ?? input.maxTimestamp ?? Date.now()
  return { firstTimestamp: first, maxTimestamp: Math.max(first, input.maxTimestamp ?? first) }
}
