/**
 * Sparse offset index of one segment: offset → byte position of the batch that starts there.
 *
 * On disk (`<base>.index`): 8-byte entries, big-endian (relativeOffset int32, position int32),
 * where relativeOffset = batch baseOffset − segment baseOffset. One entry per indexIntervalBytes of
 * log; the first batch of a segment needs none (position 0 is implied).
 *
 * Invariants: relative offsets and positions strictly increase; every position is a batch start
 * inside the .log; segment positions fit int32 because segmentBytes < 2 GiB.
 * Thread: the partition's owner thread. Entries live in memory; the active segment's index
 * appends each entry to the file with writeSync.
 * Crash: the file is never fsynced except at roll and close. It is rebuildable from the .log, so
 * recovery rebuilds it for every segment it validates, and `load` rejects a file that fails the
 * sanity checks (size, order, bounds). A file missing its last entries is still correct, only sparser.
 */
import { IndexFile, readEntries } from './index-file.js'

export const OFFSET_INDEX_ENTRY_SIZE = 8

export interface OffsetPosition {
  offset: number
  position: number
}

/** The largest i < count with keys[i] ≤ target (keys ascending), or −1 if none. */
export function floorIndex(keys: ArrayLike<number>, count: number, target: number): number {
  let lo = 0
  let hi = count - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if ((keys[mid] ?? 0) <= target) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

export interface IndexBounds {
  /** Bytes in the segment's .log. */
  logSize: number
  /** The offset after the segment's last batch. */
  nextOffset: number
}

export class OffsetIndex {
  readonly file: string
  readonly baseOffset: number
  #relOffsets = new Int32Array(16)
  #positions = new Int32Array(16)
  #count = 0
  readonly #out: IndexFile

  constructor(file: string, baseOffset: number) {
    this.file = file
    this.baseOffset = baseOffset
    this.#out = new IndexFile(file, OFFSET_INDEX_ENTRY_SIZE)
  }

  /** Reads and sanity-checks the file; undefined if it is missing or fails a check. */
  static load(file: string, baseOffset: number, bounds: IndexBounds): OffsetIndex | undefined {
    const bytes = readEntries(file, OFFSET_INDEX_ENTRY_SIZE)
    if (bytes === undefined) return undefined
    const index = new OffsetIndex(file, baseOffset)
    for (let pos = 0; pos < bytes.length; pos += OFFSET_INDEX_ENTRY_SIZE) {
      const offset = baseOffset + bytes.readInt32BE(pos)
      const position = bytes.readInt32BE(pos + 4)
      if (!index.#fits(offset, position, bounds)) return undefined
      index.append(offset, position)
    }
    return index
  }

  #fits(offset: number, position: number, bounds: IndexBounds): boolean {
    const last = this.lastEntry()
    if (offset < this.baseOffset || offset >= bounds.nextOffset) return false
    if (position < 0 || position >= bounds.logSize) return false
    return last === undefined || (offset > last.offset && position > last.position)
  }

  get entryCount(): number {
    return this.#count
  }

  entry(i: number): OffsetPosition {
    return { offset: this.baseOffset + (this.#relOffsets[i] ?? 0), position: this.#positions[i] ?? 0 }
  }

  lastEntry(): OffsetPosition | undefined {
    return this.#count === 0 ? undefined : this.entry(this.#count - 1)
  }

  /** The last entry at or before `offset`, or the segment start when there is none. */
  lookup(offset: number): OffsetPosition {
    const i = floorIndex(this.#relOffsets, this.#count, offset - this.baseOffset)
    return i < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(i)
  }

  /** Position of the first entry after `offset`: every batch from there on starts past `offset`. */
  positionAfter(offset: number): number | undefined {
    const i = floorIndex(this.#relOffsets, this.#count, offset - this.baseOffset) + 1
    return i < this.#count ? this.#positions[i] : undefined
  }

  append(offset: number, position: number): void {
    const last = this.lastEntry()
    if (last !== undefined && (offset <= last.offset || position <= last.position)) {
      throw new RangeError(`offset index entries must increase: ${offset}@${position} after ${last.offset}`)
    }
    this.#grow()
    this.#relOffsets[this.#count] = offset - this.baseOffset
    this.#positions[this.#count] = position
    this.#count++
    if (this.#out.isOpen) this.#writeEntry(this.#count - 1)
  }

  /** Writes the whole file from memory and keeps it open for appends. */
  openForAppend(): void {
    this.#out.open(this.encode())
  }

  writeFile(): void {
    this.#out.rewrite(this.encode())
  }

  encode(): Buffer {
    const bytes = Buffer.alloc(this.#count * OFFSET_INDEX_ENTRY_SIZE)
    for (let i = 0; i < this.#count; i++) {
      bytes.writeInt32BE(this.#relOffsets[i] ?? 0, i * OFFSET_INDEX_ENTRY_SIZE)
      bytes.writeInt32BE(this.#positions[i] ?? 0, i * OFFSET_INDEX_ENTRY_SIZE + 4)
    }
    return bytes
  }

  fsync(): void {
    this.#out.fsync()
  }

  close(): void {
    this.#out.close()
  }

  #writeEntry(i: number): void {
    const bytes = Buffer.allocUnsafe(OFFSET_INDEX_ENTRY_SIZE)
    bytes.writeInt32BE(this.#relOffsets[i] ?? 0, 0)
    bytes.writeInt32BE(this.#positions[i] ?? 0, 4)
    this.#out.writeEntry(i, bytes)
  }

  #grow(): void {
    if (this.#count < this.#relOffsets.length) return
    const relOffsets = new Int32Array(this.#relOffsets.length * 2)
    const positions = new Int32Array(this.#positions.length * 2)
    relOffsets.set(this.#relOffsets)
    positions.set(this.#positions)
    this.#relOffsets = relOffsets
    this.#positions = positions
  }
}
