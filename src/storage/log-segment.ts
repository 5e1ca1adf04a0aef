/**
 * One segment: a .log of back-to-back batches with its sparse .index and .timeindex
 * (Kafka's LogSegment).
 *
 * On disk: `<base>.log` (record-batch.ts), `<base>.index` (offset-index.ts), `<base>.timeindex`
 * (time-index.ts), all named by the segment's base offset.
 *
 * Invariants: the first batch's baseOffset is the segment's base offset and offsets are dense;
 * `size` is the byte length of the valid batches; only the active (last) segment is written,
 * always at `size`; an index entry is added when at least indexIntervalBytes were written since
 * the last one. A sealed segment's indexes are loaded lazily and dropped when its handles are
 * closed (LRU in partition-log.ts), so a partition with many segments keeps only a few in memory.
 * Thread: the partition's owner thread. All I/O is synchronous except `sync()` (fdatasync), which
 * pins the file descriptor so nothing closes it while the kernel is flushing.
 * Deferred writes: an append the caller will fsync anyway (acks=all) may stay in memory until the
 * segment's file is next used — the fsync that confirms it, a read, a seal — so the batches of one
 * group-commit round reach the file in one writev instead of one write each (a write syscall is
 * ~10 µs here, a single-record request's largest cost after the HTTP stack's). Every use of the
 * file descriptor writes them first, so reads and fsyncs see the log as appended; at most
 * MAX_DEFERRED_BYTES / MAX_DEFERRED_BATCHES wait. A failed deferred write poisons the segment: every
 * later use throws it (the partition goes offline at its next append or flush).
 * Crash: appends reach the page cache only; a crash can tear the last batch or leave zeros after
 * it. Index files are never trusted blindly: `load` sanity-checks them and a bad one is rebuilt
 * from the .log.
 */
import fs from 'node:fs'
import { InvalidRequestError, StorageError } from '../errors.js'
import { BatchScanner, readFully, type ScanStep, writevFully } from './batch-scanner.js'
import { OffsetIndex } from './offset-index.js'
import { type BatchHeader, batchLastOffset } from './record-batch.js'
import {
  INDEX_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  offsetFilePath,
  removeFileIfExists,
  TIME_INDEX_FILE_SUFFIX,
} from './segment-files.js'
import { TimeIndex } from './time-index.js'

/** Bounds on the batches an append may leave in memory for the next use of the file. */
const MAX_DEFERRED_BYTES = 1024 * 1024
/** Below Linux's IOV_MAX (1024), so the pending batches go out in one writev. */
const MAX_DEFERRED_BATCHES = 512

/** Relative offsets are int32 in the index files; a segment must roll before it overflows them. */
export const MAX_RELATIVE_OFFSET = 2 ** 31 - 1

export interface RollInput {
  isEmpty: boolean
  segmentSize: number
  batchSize: number
  segmentBytes: number
  segmentAgeMs: number
  segmentMs: number
  relativeLastOffset: number
}

/** Kafka's shouldRoll: the batch would not fit, the segment is too old, or offsets would overflow. */
export function shouldRoll(input: RollInput): boolean {
  if (input.isEmpty) return false
  return (
    input.segmentSize + input.batchSize > input.segmentBytes ||
    input.segmentAgeMs >= input.segmentMs ||
    input.relativeLastOffset > MAX_RELATIVE_OFFSET
  )
}

export interface SegmentOptions {
  indexIntervalBytes: number
  onWarning: (msg: string) => void
}

export class LogSegment {
  readonly dir: string
  readonly baseOffset: number
  readonly logFile: string
  readonly indexFile: string
  readonly timeIndexFile: string
  /** Bytes of valid batches in the .log. */
  size = 0
  /** The offset after the last batch (= baseOffset when empty). */
  nextOffset: number
  /** The largest batch maxTimestamp in the segment, −1 when empty. */
  maxTimestamp = -1
  /** Wall-clock start of the segment's segmentMs window. */
  rollStartMs: number
  #lastBatchOffset = -1
  /**
   * The lowest position this process wrote a batch at: every batch from there on was built or CRC
   * checked on its way in (append, appendVerbatim), so a read need not check its CRC again.
   */
  #writtenFrom: number | undefined
  #bytesSinceLastIndexEntry = 0
  readonly #options: SegmentOptions
  #fd: number | undefined
  #offsetIndex: OffsetIndex | undefined
  #timeIndex: TimeIndex | undefined
  #active = false
  #pins = 0
  #closeRequested = false
  #deleted = false
  /** Appended batches not in the file yet (deferred writes), oldest first, from `#pendingFrom`. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #pendingFrom = 0
  #writeError: StorageError | undefined

  private constructor(dir: string, baseOffset: number, options: SegmentOptions, rollStartMs: number) {
    this.dir = dir
    this.baseOffset = baseOffset
    this.nextOffset = baseOffset
    this.rollStartMs = rollStartMs
    this.logFile = offsetFilePath(dir, baseOffset, LOG_FILE_SUFFIX)
    this.indexFile = offsetFilePath(dir, baseOffset, INDEX_FILE_SUFFIX)
    this.timeIndexFile = offsetFilePath(dir, baseOffset, TIME_INDEX_FILE_SUFFIX)
    this.#options = options
  }

  /** Creates the three files of a new, empty segment. The caller fsyncs the directory. */
  static create(dir: string, baseOffset: number, options: SegmentOptions, nowMs: number): LogSegment {
    const segment = new LogSegment(dir, baseOffset, options, nowMs)
    const fd = fs.openSync(segment.logFile, 'wx+')
    segment.#fd = fd
    segment.#offsetIndex = new OffsetIndex(segment.indexFile, baseOffset)
    segment.#timeIndex = new TimeIndex(segment.timeIndexFile, baseOffset)
    segment.#offsetIndex.writeFile()
    segment.#timeIndex.writeFile()
    return segment
  }

  /**
   * An existing segment whose .log is `size` bytes of valid batches ending at `nextOffset`;
   * its indexes are loaded on first use. Used for sealed segments recovery did not rescan.
   */
  static existing(
    dir: string,
    baseOffset: number,
    options: SegmentOptions,
    facts: ExistingFacts,
  ): LogSegment {
    const segment = new LogSegment(dir, baseOffset, options, facts.rollStartMs)
    segment.size = facts.size
    segment.nextOffset = facts.nextOffset
    segment.maxTimestamp = facts.maxTimestamp
    return segment
  }

  /** An existing segment whose indexes are built batch by batch by `indexBatch` (recovery). */
  static rebuilding(
    dir: string,
    baseOffset: number,
    options: SegmentOptions,
    rollStartMs: number,
  ): LogSegment {
    const segment = new LogSegment(dir, baseOffset, options, rollStartMs)
    segment.#offsetIndex = new OffsetIndex(segment.indexFile, baseOffset)
    segment.#timeIndex = new TimeIndex(segment.timeIndexFile, baseOffset)
    return segment
  }

  get isEmpty(): boolean {
    return this.size === 0
  }

  get isActive(): boolean {
    return this.#active
  }

  get isPinned(): boolean {
    return this.#pins > 0
  }

  get hasOpenHandles(): boolean {
    return this.#fd !== undefined || this.#offsetIndex !== undefined
  }

  offsetIndex(): OffsetIndex {
    if (this.#offsetIndex === undefined) this.#loadIndexes()
    return this.#offsetIndex as OffsetIndex
  }

  timeIndex(): TimeIndex {
    if (this.#timeIndex === undefined) this.#loadIndexes()
    return this.#timeIndex as TimeIndex
  }

  /** Adds a batch already in the .log at `position` to the in-memory state and indexes. */
  indexBatch(header: BatchHeader, position: number, size: number): void {
    const maxTimestamp = Math.max(this.maxTimestamp, header.maxTimestamp)
    if (this.#bytesSinceLastIndexEntry >= this.#options.indexIntervalBytes) {
      this.offsetIndex().append(header.baseOffset, position)
      this.timeIndex().maybeAppend(maxTimestamp, header.baseOffset)
      this.#bytesSinceLastIndexEntry = 0
    }
    this.#bytesSinceLastIndexEntry += size
    this.maxTimestamp = maxTimestamp
    this.#lastBatchOffset = header.baseOffset
    this.nextOffset = batchLastOffset(header) + 1
    this.size = Math.max(this.size, position + size)
  }

  /** Writes the index files from memory (after a rebuild). They are never fsynced here. */
  writeIndexFiles(): void {
    this.offsetIndex().writeFile()
    this.timeIndex().writeFile()
  }

  /** Makes this the segment appends go to: index files open for write-through. */
  activate(): void {
    this.offsetIndex().openForAppend()
    this.timeIndex().openForAppend()
    this.#active = true
    this.#openFd()
  }

  /**
   * Ends appends: adds the final time index entry (so its last entry holds the segment's max
   * timestamp) and closes the index files. The .log fd stays open until the flush syncs it.
   */
  seal(): void {
    this.#writePending()
    this.finalizeTimeIndex()
    this.#offsetIndex?.close()
    this.#timeIndex?.close()
    this.#active = false
  }

  /** Adds the time index entry for the last batch if the max timestamp grew since the last entry. */
  finalizeTimeIndex(): void {
    if (this.#lastBatchOffset >= 0) this.timeIndex().maybeAppend(this.maxTimestamp, this.#lastBatchOffset)
  }

  /**
   * Appends a stamped batch at the end of the .log, then indexes it. With `deferWrite` the bytes
   * may wait in memory for the next use of the file (see the header); the caller must not change
   * `batch` afterwards.
   */
  append(batch: Buffer, header: BatchHeader, deferWrite = false): void {
    if (this.#writeError) throw this.#writeError
    const position = this.size
    if (this.#pending.length === 0) this.#pendingFrom = position
    this.#pending.push(batch)
    this.#pendingBytes += batch.length
    if (
      !deferWrite ||
      this.#pendingBytes >= MAX_DEFERRED_BYTES ||
      this.#pending.length >= MAX_DEFERRED_BATCHES
    )
      this.#writePending()
    if (this.#writtenFrom === undefined || position < this.#writtenFrom) this.#writtenFrom = position
    this.indexBatch(header, position, batch.length)
  }

  /** True when the batch at `position` was written by this process (checked on its way in). */
  writtenHere(position: number): boolean {
    return this.#writtenFrom !== undefined && position >= this.#writtenFrom
  }

  /** Reads `length` bytes at `position` into a new buffer with its own ArrayBuffer. */
  read(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafeSlow(length)
    const n = readFully(this.#openFd(), buf, length, position)
    if (n !== length) {
      throw new StorageError(`short read in ${this.logFile} at position ${position}`, {
        file: this.logFile,
        position,
      })
    }
    return buf
  }

  /** A walk over the batches from `start` to `end` (default: the end of the valid batches). */
  scanner(start: number, verify: boolean, end = this.size): BatchScanner {
    return new BatchScanner(this.#openFd(), { start, end, verify })
  }

  /** The batch containing `offset` (or the first after it), found from the index floor entry. */
  findBatch(offset: number): ScanStep {
    const scanner = this.scanner(this.offsetIndex().lookup(offset).position, false)
    for (;;) {
      const step = scanner.next()
      if (step.kind !== 'batch' || batchLastOffset(step.header) >= offset) return step
    }
  }

  /** The first batch whose maxTimestamp ≥ `timestamp`, scanning from the time index. */
  findTimestamp(timestamp: number): ScanStep {
    const from = this.timeIndex().lookup(timestamp)
    const scanner = this.scanner(this.offsetIndex().lookup(from).position, false)
    for (;;) {
      const step = scanner.next()
      if (step.kind !== 'batch' || step.header.maxTimestamp >= timestamp) return step
    }
  }

  /** Drops every batch at or after `offset`, which must be a batch boundary in this segment. */
  truncateTo(offset: number): void {
    if (offset >= this.nextOffset) return
    const position = offset <= this.baseOffset ? 0 : this.#boundaryPosition(offset)
    fs.ftruncateSync(this.#openFd(), position)
    const wasActive = this.#active
    this.#offsetIndex?.close()
    this.#timeIndex?.close()
    this.#rebuildIndexes(position)
    if (wasActive) this.activate()
  }

  #boundaryPosition(offset: number): number {
    const step = this.findBatch(offset)
    if (step.kind !== 'batch' || step.header.baseOffset !== offset) {
      throw new InvalidRequestError(`offset ${offset} is not a batch boundary in ${this.logFile}`, { offset })
    }
    return step.position
  }

  /** fdatasync of the .log (and of the index files once sealed). */
  async sync(withIndexes: boolean): Promise<void> {
    if (this.#deleted) return
    const fd = this.#openFd()
    this.#pins++
    try {
      await fdatasync(fd)
      if (withIndexes) await Promise.all([syncFile(this.indexFile), syncFile(this.timeIndexFile)])
    } finally {
      this.#pins--
      if (this.#pins === 0 && this.#closeRequested) this.#closeNow()
    }
  }

  /** Synchronous fsync of the active segment's files, for close. */
  syncNow(): void {
    fs.fdatasyncSync(this.#openFd())
    this.#offsetIndex?.fsync()
    this.#timeIndex?.fsync()
  }

  /** Closes the fds and forgets the indexes of a sealed segment; deferred while a sync runs. */
  closeHandles(): void {
    if (this.#pins > 0) {
      this.#closeRequested = true
      return
    }
    this.#closeNow()
  }

  delete(): void {
    this.#pending = []
    this.#pendingBytes = 0
    this.#deleted = true
    this.#active = false
    this.closeHandles()
    removeFileIfExists(this.logFile)
    removeFileIfExists(this.indexFile)
    removeFileIfExists(this.timeIndexFile)
  }

  #closeNow(): void {
    this.#closeRequested = false
    this.#offsetIndex?.close()
    this.#timeIndex?.close()
    if (!this.#active) {
      this.#offsetIndex = undefined
      this.#timeIndex = undefined
    }
    if (this.#fd !== undefined) fs.closeSync(this.#fd)
    this.#fd = undefined
  }

  /** Puts the deferred batches in the file now (page cache), as a write-through append would. */
  writeDeferred(): void {
    this.#writePending()
  }

  /** The .log's descriptor, with every deferred write in the file first. */
  #openFd(): number {
    this.#writePending()
    return this.#rawFd()
  }

  #rawFd(): number {
    this.#closeRequested = false
    this.#fd ??= fs.openSync(this.logFile, 'r+')
    return this.#fd
  }

  #writePending(): void {
    if (this.#writeError) throw this.#writeError
    if (this.#pending.length === 0) return
    const chunks = this.#pending
    this.#pending = []
    this.#pendingBytes = 0
    try {
      writevFully(this.#rawFd(), chunks, this.#pendingFrom)
    } catch (err) {
      this.#writeError = new StorageError(
        `write to ${this.logFile} failed`,
        { file: this.logFile },
        { cause: err },
      )
      throw this.#writeError
    }
  }

  #loadIndexes(): void {
    const bounds = { logSize: this.size, nextOffset: this.nextOffset }
    const offsetIndex = OffsetIndex.load(this.indexFile, this.baseOffset, bounds)
    const timeIndex = TimeIndex.load(this.timeIndexFile, this.baseOffset, bounds)
    // A sealed, non-empty segment always has a time index entry (the final one written by seal).
    const timeIndexSane = timeIndex !== undefined && (this.size === 0 || timeIndex.entryCount > 0)
    if (offsetIndex !== undefined && timeIndex !== undefined && timeIndexSane) {
      this.#offsetIndex = offsetIndex
      this.#timeIndex = timeIndex
      return
    }
    this.#options.onWarning(`rebuilding the indexes of ${this.logFile}: index file missing or corrupt`)
    this.#rebuildIndexes(this.size)
  }

  /** Rebuilds both indexes and the in-memory facts from the first `size` bytes of the .log. */
  #rebuildIndexes(size: number): void {
    this.#offsetIndex = new OffsetIndex(this.indexFile, this.baseOffset)
    this.#timeIndex = new TimeIndex(this.timeIndexFile, this.baseOffset)
    this.size = 0
    this.nextOffset = this.baseOffset
    this.maxTimestamp = -1
    this.#lastBatchOffset = -1
    this.#bytesSinceLastIndexEntry = 0
    const scanner = new BatchScanner(this.#openFd(), { start: 0, end: size, verify: false })
    for (let step = scanner.next(); step.kind === 'batch'; step = scanner.next()) {
      this.indexBatch(step.header, step.position, step.size)
    }
    if (!this.#active && this.#lastBatchOffset >= 0) {
      this.#timeIndex.maybeAppend(this.maxTimestamp, this.#lastBatchOffset)
    }
    this.writeIndexFiles()
  }

  /**
   * Adopts the active segment's state after a clean shutdown: indexes from their files (rebuilt
   * if insane), then the batches after the last offset index entry walked to find the end.
   * Returns false if the walk does not end exactly at the end of the file.
   */
  adoptTail(fileSize: number): boolean {
    const bounds = { logSize: fileSize, nextOffset: Number.MAX_SAFE_INTEGER }
    const offsetIndex = OffsetIndex.load(this.indexFile, this.baseOffset, bounds)
    const timeIndex = TimeIndex.load(this.timeIndexFile, this.baseOffset, bounds)
    if (offsetIndex === undefined || timeIndex === undefined) return false
    const last = offsetIndex.lastEntry()
    this.#offsetIndex = offsetIndex
    this.#timeIndex = timeIndex
    this.maxTimestamp = timeIndex.lastEntry()?.timestamp ?? -1
    this.size = last?.position ?? 0
    this.nextOffset = last?.offset ?? this.baseOffset
    this.#bytesSinceLastIndexEntry = 0
    const scanner = new BatchScanner(this.#openFd(), { start: this.size, end: fileSize, verify: false })
    let step = scanner.next()
    for (; step.kind === 'batch'; step = scanner.next()) {
      if (step.header.baseOffset !== this.nextOffset) return false
      this.#tailBatch(step.header, step.size)
    }
    return step.kind === 'end'
  }

  #tailBatch(header: BatchHeader, size: number): void {
    this.#bytesSinceLastIndexEntry += size
    this.maxTimestamp = Math.max(this.maxTimestamp, header.maxTimestamp)
    this.#lastBatchOffset = header.baseOffset
    this.nextOffset = batchLastOffset(header) + 1
    this.size += size
  }
}

export interface ExistingFacts {
  size: number
  nextOffset: number
  maxTimestamp: number
  rollStartMs: number
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))
  })
}

async function syncFile(file: string): Promise<void> {
  let handle: fs.promises.FileHandle
  try {
    handle = await fs.promises.open(file, 'r+')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    await handle.datasync()
  } finally {
    await handle.close()
  }
}
