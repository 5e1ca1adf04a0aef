/**
 * Time index of one segment: timestamp → offset from which to scan for it.
 *
 * On disk (`<base>.timeindex`): 12-byte entries, big-endian (timestamp int64, relativeOffset int32).
 * An entry (T, o) means: every batch up to and including the batch at o has maxTimestamp ≤ T.
 * An entry is added only when the segment's max timestamp grows, at most one per
 * indexIntervalBytes (together with an offset index entry), plus a final entry for the last batch
 * when the segment is sealed (roll, close), so the last entry holds the segment's max timestamp.
 *
 * Invariants: timestamps strictly increase, offsets never decrease and stay inside the segment.
 * Thread: the partition's owner thread; entries live in memory, the active segment's file is
 * appended with writeSync.
 * Crash: like the offset index, never fsynced between roll and close, rebuilt by recovery for every
 * validated segment and rejected by `load` when its shape is wrong.
 */
import fs from 'node:fs'
import { IndexFile, readEntries } from './index-file.js'
import type { IndexBounds } from './offset-index.js'

export const TIME_INDEX_ENTRY_SIZE = 12

export interface TimestampOffset {
  timestamp: number
  offset: number
}

/** The largest i < count with keys[i] < target (keys ascending), or −1 if none. */
export function lastIndexBelow(keys: ArrayLike<number>, count: number, target: number): number {
  let lo = 0
  let hi = count - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if ((keys[mid] ?? 0) < target) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

/**
 * The last entry's timestamp, read from the end of the file without loading it (the segment's max
 * timestamp once sealed); undefined when the file is missing, empty or not whole entries.
 */
export function readLastTimestamp(file: string): number | undefined {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch {
    return undefined
  }
  try {
    const size = fs.fstatSync(fd).size
    if (size === 0 || size % TIME_INDEX_ENTRY_SIZE !== 0) return undefined
    const bytes = Buffer.alloc(TIME_INDEX_ENTRY_SIZE)
    fs.readSync(fd, bytes, 0, TIME_INDEX_ENTRY_SIZE, size - TIME_INDEX_ENTRY_SIZE)
    return Number(bytes.readBigInt64BE(0))
  } finally {
    fs.closeSync(fd)
  }
}

export class TimeIndex {
  readonly file: string
  readonly baseOffset: number
  #timestamps = new Float64Array(16)
  #relOffsets = new Int32Array(16)
  #count = 0
  readonly #out: IndexFile

  constructor(file: string, baseOffset: number) {
    this.file = file
    this.baseOffset = baseOffset
    this.#out = new IndexFile(file, TIME_INDEX_ENTRY_SIZE)
  }

  /** Reads and sanity-checks the file; undefined if it is missing or fails a check. */
  static load(file: string, baseOffset: number, bounds: IndexBounds): TimeIndex | undefined {
    const bytes = readEntries(file, TIME_INDEX_ENTRY_SIZE)
    if (bytes === undefined) return undefined
    const index = new TimeIndex(file, baseOffset)
    for (let pos = 0; pos < bytes.length; pos += TIME_INDEX_ENTRY_SIZE) {
      const timestamp = Number(bytes.readBigInt64BE(pos))
      const offset = baseOffset + bytes.readInt32BE(pos + 8)
      if (!index.#fits(timestamp, offset, bounds)) return undefined
      index.maybeAppend(timestamp, offset)
    }
    return index
  }

  #fits(timestamp: number, offset: number, bounds: IndexBounds): boolean {
    const last = this.lastEntry()
    if (offset < this.baseOffset || offset >= bounds.nextOffset) return false
    return last === undefined || (timestamp > last.timestamp && offset >= last.offset)
  }

  get entryCount(): number {
    return this.#count
  }

  entry(i: number): TimestampOffset {
    return { timestamp: this.#timestamps[i] ?? 0, offset: this.baseOffset + (this.#relOffsets[i] ?? 0) }
  }

  lastEntry(): TimestampOffset | undefined {
    return this.#count === 0 ? undefined : this.entry(this.#count - 1)
  }

  /**
   * Where to start scanning for the first batch with maxTimestamp ≥ `timestamp`: the offset of the
   * last entry whose timestamp is below it (everything up to that batch is too old), else the
   * segment start.
   */
  lookup(timestamp: number): number {
    const i = lastIndexBelow(this.#timestamps, this.#count, timestamp)
    return i < 0 ? this.baseOffset : this.entry(i).offset
  }

  /** Adds (timestamp, offset) if the timestamp grows; returns whether it did. */
  maybeAppend(timestamp: number, offset: number): boolean {
    const last = this.lastEntry()
    if (last !== undefined && timestamp <= last.timestamp) return false
    if (last !== undefined && offset < last.offset) {
      throw new RangeError(`time index offsets must not decrease: ${offset} after ${last.offset}`)
    }
    this.#grow()
    this.#timestamps[this.#count] = timestamp
    this.#relOffsets[this.#count] = offset - this.baseOffset
    this.#count++
    if (this.#out.isOpen) this.#writeEntry(this.#count - 1)
    return true
  }

  openForAppend(): void {
    this.#out.open(this.encode())
  }

  writeFile(): void {
    this.#out.rewrite(this.encode())
  }

  encode(): Buffer {
    const bytes = Buffer.alloc(this.#count * TIME_INDEX_ENTRY_SIZE)
    for (let i = 0; i < this.#count; i++) this.#encodeEntry(bytes, i, i * TIME_INDEX_ENTRY_SIZE)
    return bytes
  }

  fsync(): void {
    this.#out.fsync()
  }

  close(): void {
    this.#out.close()
  }

  #encodeEntry(bytes: Buffer, i: number, pos: number): void {
    bytes.writeBigInt64BE(BigInt(this.#timestamps[i] ?? 0), pos)
    bytes.writeInt32BE(this.#relOffsets[i] ?? 0, pos + 8)
  }

  #writeEntry(i: number): void {
    const bytes = Buffer.allocUnsafe(TIME_INDEX_ENTRY_SIZE)
    this.#encodeEntry(bytes, i, 0)
    this.#out.writeEntry(i, bytes)
  }

  #grow(): void {
    if (this.#count < this.#timestamps.length) return
    const timestamps = new Float64Array(this.#timestamps.length * 2)
    const relOffsets = new Int32Array(this.#relOffsets.length * 2)
    timestamps.set(this.#timestamps)
    relOffsets.set(this.#relOffsets)
    this.#timestamps = timestamps
    this.#relOffsets = relOffsets
  }
}
