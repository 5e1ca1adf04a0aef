/**
 * The log of one partition: an ordered list of segments, the last one active (Kafka's UnifiedLog).
 *
 * On disk: the partition directory described in README.md: segments (`.log`, `.index`,
 * `.timeindex`), producer `.snapshot`s, `recovery-point` and, between a clean close and the next
 * open, `clean-shutdown`.
 *
 * Invariants: offsets are dense across segments; logEndOffset only moves forward except through
 * truncateTo; durableOffset ≤ logEndOffset and everything below it was fdatasync'ed (with the
 * directory entries of the files holding it); the active segment is never deleted by retention;
 * once `offlineError` is set every operation throws it and nothing on disk changes any more.
 * Thread: ONE owner thread (a partition worker, or the main thread with --workers 0). File I/O is
 * synchronous (fs.*Sync) except fdatasync, which runs on the libuv pool so appends continue while a
 * flush is in flight; group commit merges concurrent flush() calls into at most maxFlushRounds
 * rounds at the disk plus one queued (see flush).
 * Read fds of sealed segments are bounded by an LRU (maxOpenSegments).
 * Reads at the tail: the newest batches appended to the active segment stay in memory (up to
 * RECENT_BATCH_BYTES, within a budget shared by the thread's partitions: recent-batches.ts), so a
 * consumer that keeps up is answered without touching the file.
 * Crash: appends after durableOffset may be torn or lost; open() validates from the recovery point
 * and cuts a torn tail, or comes up offline when the damage is followed by valid data.
 */
import path from 'node:path'
import {
  InvalidConfigError,
  InvalidRequestError,
  OffsetOutOfRangeError,
  PartitionOfflineError,
  PayloadTooLargeError,
  StorageError,
} from '../errors.js'
import { writeCheckpoint, writeMarker } from './checkpoint-file.js'
import { recoverLog, segmentIndexFor } from './log-recovery.js'
import { LogSegment, type SegmentOptions, shouldRoll } from './log-segment.js'
import {
  DEFAULT_PRODUCER_ID_EXPIRATION_MS,
  loadLatestSnapshot,
  ProducerStateManager,
  pruneSnapshots,
  writeSnapshot,
} from './producer-state.js'
import { RECENT_BATCH_BYTES, type RecentBatchBudget, RecentBatches } from './recent-batches.js'
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  batchLastOffset,
  batchSize,
  CRC_OFFSET,
  checkBatchStructure,
  readBatchHeader,
  stampBatch,
  validateBatch,
} from './record-batch.js'
import { segmentsToDelete } from './retention.js'
import { CLEAN_SHUTDOWN_FILE, fsyncDir, fsyncDirSync, RECOVERY_POINT_FILE } from './segment-files.js'

/**
 * fdatasync rounds a partition keeps at the disk at once (see flush). One by default: on this
 * 2-core VM two overlapping rounds halved the records per fdatasync under load and cost CPU
 * without a gain in any benchmark (bench/RESULTS.md, "Latency and the produce path", session 4);
 * the disk alone completes overlapped rounds faster, so a machine with cores to spare may differ.
 */
export const DEFAULT_MAX_FLUSH_ROUNDS = 1

export interface LogConfig {
  segmentBytes: number
  segmentMs: number
  /** −1 keeps data forever. */
  retentionMs: number
  /** −1 puts no bound on the partition's size. */
  retentionBytes: number
  /** Bytes of log between offset index entries (Kafka's index.interval.bytes, 4096). */
  indexIntervalBytes: number
  /** Bound on sealed segments with open fds and loaded indexes (LRU); default 64. */
  maxOpenSegments?: number
  /** fdatasync rounds at the disk at once (see flush); default DEFAULT_MAX_FLUSH_ROUNDS. */
  maxFlushRounds?: number
  /** Bytes of newest batches kept in memory for reads at the tail; default RECENT_BATCH_BYTES, 0 = none. */
  recentBatchBytes?: number
  /** The bound those share with other partitions; default one per thread (recent-batches.ts). */
  recentBatchBudget?: RecentBatchBudget
  /**
   * Producers idle (since their last append, by the broker's clock) longer than this are dropped
   * when a producer snapshot is written and when the state is loaded (Kafka's
   * producer.id.expiration.ms, default 1 day).
   */
  producerIdExpirationMs?: number
}

export interface AppendInfo {
  baseOffset: number
  lastOffset: number
  logEndOffset: number
  firstTimestamp: number
  maxTimestamp: number
  sizeInBytes: number
  /** Set when the batch was a producer retry already in the log: nothing was written. */
  duplicate?: true
}

export interface FlushStats {
  /** Flush rounds that fdatasync'ed something (one round may sync several files, e.g. after a roll). */
  fsyncs: number
  fsyncMsTotal: number
  /** Records made durable by those rounds. */
  recordsFlushed: number
}

export interface PartitionLogOptions {
  onWarning?: (msg: string) => void
}

export const DEFAULT_MAX_OPEN_SEGMENTS = 64
/** Positions in the index files are int32, so a segment must stay below 2 GiB. */
export const MAX_SEGMENT_BYTES = 2 ** 31 - 1
/** Producer snapshots kept: the newest covers a clean restart, older ones a lost newest. */
const SNAPSHOTS_KEPT = 3

export class PartitionLog {
  readonly dir: string
  readonly flushStats: FlushStats = { fsyncs: 0, fsyncMsTotal: 0, recordsFlushed: 0 }
  readonly #config: LogConfig
  readonly #maxOpenSegments: number
  readonly #warn: (msg: string) => void
  readonly #maxFlushRounds: number
  readonly #segmentOptions: SegmentOptions
  readonly #producers = new ProducerStateManager()
  readonly #unsynced = new Set<LogSegment>()
  /** Sealed segments with open handles, least recently used first. */
  readonly #openSegments = new Map<LogSegment, true>()
  #segments: LogSegment[]
  #logEndOffset: number
  #durableOffset: number
  #offlineError: Error | undefined
  #closed = false
  #snapshots: number[] = []
  #dirDirty = false
  /** Flush rounds started and not landed yet, oldest first; they land in this order. */
  readonly #rounds: Array<Promise<number>> = []
  /** The round that starts when the oldest lands, shared by callers while maxFlushRounds run. */
  #flushQueued: Promise<number> | undefined
  /** Bumped by truncateTo so a flush that started before it does not claim the old offsets. */
  #truncations = 0
  /**
   * The newest batches this process appended as leader, in offset order: a suffix of the active
   * segment ending at logEndOffset. Cleared on roll, truncation, a follower append and offline.
   */
  readonly #recent: RecentBatches

  private constructor(dir: string, config: LogConfig, warn: (msg: string) => void, segments: LogSegment[]) {
    this.dir = dir
    this.#config = config
    this.#maxOpenSegments = config.maxOpenSegments ?? DEFAULT_MAX_OPEN_SEGMENTS
    this.#maxFlushRounds = config.maxFlushRounds ?? DEFAULT_MAX_FLUSH_ROUNDS
    this.#recent = new RecentBatches(config.recentBatchBytes ?? RECENT_BATCH_BYTES, config.recentBatchBudget)
    this.#warn = warn
    this.#segmentOptions = { indexIntervalBytes: config.indexIntervalBytes, onWarning: warn }
    this.#segments = segments
    this.#logEndOffset = segments.at(-1)?.nextOffset ?? 0
    this.#durableOffset = 0
  }

  /**
   * Opens (creating if missing) and recovers the partition in `dir`. A damaged log does not
   * reject: the log comes back with `offlineError` set and every operation throws it.
   */
  static async open(dir: string, config: LogConfig, opts: PartitionLogOptions = {}): Promise<PartitionLog> {
    checkConfig(config)
    const warn = opts.onWarning ?? (() => {})
    const recovered = recoverLog(dir, { indexIntervalBytes: config.indexIntervalBytes, onWarning: warn })
    const log = new PartitionLog(dir, config, warn, recovered.segments)
    if (recovered.offline !== undefined) {
      log.#offlineError = recovered.offline
      warn(recovered.offline.message)
      return log
    }
    // Validated batches may sit only in the page cache (a process crash); make them durable first.
    if (!recovered.clean) {
      try {
        await Promise.all(recovered.validated.map((s) => s.sync(!s.isActive)))
      } catch (err) {
        log.#goOffline(
          new StorageError(
            `fdatasync failed while opening ${dir}; partition offline`,
            { dir },
            { cause: err },
          ),
        )
        return log
      }
    }
    log.#durableOffset = log.#logEndOffset
    writeCheckpoint(log.#file(RECOVERY_POINT_FILE), log.#logEndOffset, { durable: false })
    for (const segment of log.#segments.slice(0, -1)) segment.closeHandles()
    log.#loadProducerState(recovered.snapshots)
    return log
  }

  get logStartOffset(): number {
    return this.#segments[0]?.baseOffset ?? 0
  }

  get logEndOffset(): number {
    return this.#logEndOffset
  }

  get durableOffset(): number {
    return this.#durableOffset
  }

  get offlineError(): Error | undefined {
    return this.#offlineError
  }

  get #active(): LogSegment {
    return this.#segments.at(-1) as LogSegment
  }

  /**
   * Leader path: stamps baseOffset = logEndOffset, the leader epoch and the CRC into `batch` (it is
   * mutated), then writes it. A producer retry of one of its last 5 batches returns the original
   * AppendInfo with `duplicate: true` and writes nothing. `checkSequenceGap`: refuse a producer's
   * sequence that skips past its next one (producer-state.ts, "Sequence rules"). `deferWrite`: the
   * caller flushes before confirming (acks=all), so the bytes may wait for the flush in memory and a
   * round's batches go out in one writev (LogSegment, "Deferred writes"); reads see them either way.
   * The log keeps `batch` (for reads at the tail): the caller must not change it afterwards.
   */
  append(
    batch: Buffer,
    opts: { leaderEpoch?: number; checkSequenceGap?: boolean; deferWrite?: boolean } = {},
  ): AppendInfo {
    this.#throwIfUnavailable()
    this.#checkBatch(batch)
    const header = readBatchHeader(batch)
    const original = this.#producers.findDuplicate(header, opts.checkSequenceGap === true)
    if (original !== undefined) {
      // A retry answered "written" (acks 0/1) must be: the original may still wait for its flush.
      if (opts.deferWrite !== true) this.#writeDeferred()
      const { baseOffset, lastOffset, firstTimestamp, maxTimestamp, sizeInBytes } = original
      return {
        baseOffset,
        lastOffset,
        logEndOffset: lastOffset + 1,
        firstTimestamp,
        maxTimestamp,
        sizeInBytes,
        duplicate: true,
      }
    }
    const leaderEpoch = opts.leaderEpoch ?? 0
    stampBatch(batch, this.#logEndOffset, leaderEpoch)
    header.baseOffset = this.#logEndOffset
    header.leaderEpoch = leaderEpoch
    header.crc = batch.readUInt32BE(CRC_OFFSET)
    const info = this.#write(batch, header, opts.deferWrite === true)
    this.#recent.add(batch)
    return info
  }

  /** Follower path: the batch keeps the leader's offset, epoch and CRC; it must continue the log. */
  appendVerbatim(batch: Buffer): AppendInfo {
    this.#throwIfUnavailable()
    this.#checkBatch(batch)
    const check = validateBatch(batch)
    if (!check.ok)
      throw new InvalidRequestError(`replicated record batch is invalid: ${check.reason}`, {
        reason: check.reason,
      })
    const header = readBatchHeader(batch)
    if (header.baseOffset !== this.#logEndOffset) {
      throw new InvalidRequestError(
        `replicated batch starts at ${header.baseOffset}, log end offset is ${this.#logEndOffset}`,
        {
          baseOffset: header.baseOffset,
          logEndOffset: this.#logEndOffset,
        },
      )
    }
    // The recent batches must end at the log end, and this one is not kept (a follower is read
    // by consumers only once it leads, and its batches are views of a fetched response).
    this.#recent.clear()
    return this.#write(batch, header)
  }

  #writeDeferred(): void {
    const active = this.#active
    try {
      active.writeDeferred()
    } catch (err) {
      throw this.#writeFailed(active, err)
    }
  }

  /** Takes the partition offline after a failed write to `segment`'s .log; returns the error. */
  #writeFailed(segment: LogSegment, cause: unknown): Error {
    return this.#goOffline(
      new StorageError(
        `write to ${segment.logFile} failed; partition offline`,
        { file: segment.logFile },
        { cause },
      ),
    )
  }

  #checkBatch(batch: Buffer): void {
    const problem = checkBatchStructure(batch)
    if (problem !== undefined)
      throw new InvalidRequestError(`malformed record batch: ${problem}`, { reason: problem })
    if (batch.length > this.#config.segmentBytes) {
      throw new PayloadTooLargeError(
        `record batch of ${batch.length} bytes exceeds segmentBytes ${this.#config.segmentBytes}`,
        {
          sizeInBytes: batch.length,
          segmentBytes: this.#config.segmentBytes,
        },
      )
    }
  }

  #write(batch: Buffer, header: BatchHeader, deferWrite = false): AppendInfo {
    const segment = this.#segmentForAppend(batch.length, header, Date.now())
    try {
      segment.append(batch, header, deferWrite)
    } catch (err) {
      // The file may now hold part of the batch; appending after it would corrupt the log.
      throw this.#writeFailed(segment, err)
    }
    this.#logEndOffset = segment.nextOffset
    this.#unsynced.add(segment)
    this.#producers.update(header, batch.length)
    return {
      baseOffset: header.baseOffset,
      lastOffset: batchLastOffset(header),
      logEndOffset: this.#logEndOffset,
      firstTimestamp: header.firstTimestamp,
      maxTimestamp: header.maxTimestamp,
      sizeInBytes: batch.length,
    }
  }

  #segmentForAppend(size: number, header: BatchHeader, nowMs: number): LogSegment {
    const active = this.#active
    const roll = shouldRoll({
      isEmpty: active.isEmpty,
      segmentSize: active.size,
      batchSize: size,
      segmentBytes: this.#config.segmentBytes,
      segmentAgeMs: nowMs - active.rollStartMs,
      segmentMs: this.#config.segmentMs,
      relativeLastOffset: this.#logEndOffset + header.lastOffsetDelta - active.baseOffset,
    })
    return roll ? this.#roll(nowMs) : active
  }

  /** Starts a new segment at logEndOffset (a no-op while the active segment is empty). */
  roll(): void {
    this.#throwIfUnavailable()
    this.#roll(Date.now())
  }

  #roll(nowMs: number): LogSegment {
    const sealed = this.#active
    if (sealed.isEmpty) return sealed
    let next: LogSegment
    try {
      sealed.seal()
      next = LogSegment.create(this.dir, this.#logEndOffset, this.#segmentOptions, nowMs)
      next.activate()
    } catch (err) {
      throw this.#goOffline(
        new StorageError(
          `cannot roll ${this.dir} at offset ${this.#logEndOffset}`,
          { dir: this.dir },
          { cause: err },
        ),
      )
    }
    this.#segments.push(next)
    this.#recent.clear()
    this.#dirDirty = true
    // The next flush syncs the sealed segment's index files too (its final time index entry).
    this.#unsynced.add(sealed)
    this.#touch(sealed)
    this.#writeProducerSnapshot()
    return next
  }

  /**
   * Group commit: resolves with a durableOffset covering every append made before the call. The
   * appends not yet taken by a round start one at once while fewer than `maxFlushRounds` run (a disk
   * overlaps them: on this VM's virtio disk two rounds in flight complete every 0.15 ms where one at
   * a time took 0.24 ms); beyond that, callers share one round queued until the oldest lands, so any
   * number of concurrent callers costs at most maxFlushRounds + 1 fdatasyncs. Rounds land in
   * the order they started: durableOffset moves to a round's target only once every earlier round
   * landed (an earlier round may hold a sealed segment or the directory this one does not). A failed
   * fdatasync takes the partition offline for good, and every round after it fails too.
   */
  flush(): Promise<number> {
    if (this.#offlineError !== undefined) return Promise.reject(this.#offlineError)
    if (this.#closed) return Promise.reject(closedError(this.dir))
    if (this.#unsynced.size === 0 && !this.#dirDirty) {
      // Every append so far was taken by a round already started: the newest covers them all.
      return this.#rounds.at(-1) ?? Promise.resolve(this.#durableOffset)
    }
    if (this.#flushQueued !== undefined) return this.#flushQueued
    if (this.#rounds.length < this.#maxFlushRounds) return this.#startFlush()
    const startNext = () => {
      this.#flushQueued = undefined
      return this.#startFlush()
    }
    // The queued round starts as soon as a slot frees: when the oldest round lands.
    const oldest = this.#rounds[0] as Promise<number>
    this.#flushQueued = oldest.then(startNext, startNext)
    return this.#flushQueued
  }

  #startFlush(): Promise<number> {
    const round: Promise<number> = this.#runFlush(this.#rounds.at(-1)).finally(() => {
      this.#rounds.splice(this.#rounds.indexOf(round), 1)
    })
    this.#rounds.push(round)
    return round
  }

  async #runFlush(earlier: Promise<number> | undefined): Promise<number> {
    if (this.#offlineError !== undefined) throw this.#offlineError
    const target = this.#logEndOffset
    const truncations = this.#truncations
    const segments = [...this.#unsynced]
    const dirDirty = this.#dirDirty
    this.#unsynced.clear()
    this.#dirDirty = false
    if (segments.length === 0 && !dirDirty) {
      if (earlier !== undefined) await earlier.catch(() => undefined)
      if (this.#offlineError !== undefined) throw this.#offlineError
      return this.#durableOffset
    }
    const started = performance.now()
    try {
      // Every sync starts now, so each segment's fd is pinned before anything else can close it.
      const syncs = segments.map((s) => s.sync(!s.isActive))
      await Promise.all(dirDirty ? [fsyncDir(this.dir), ...syncs] : syncs)
    } catch (err) {
      throw this.#goOffline(
        new StorageError(
          `fdatasync failed in ${this.dir}; partition offline`,
          { dir: this.dir },
          { cause: err },
        ),
      )
    }
    const syncedMs = performance.now() - started
    // In start order: an earlier round that failed took the log offline, and this one may not count.
    if (earlier !== undefined) await earlier.catch(() => undefined)
    if (this.#offlineError !== undefined) throw this.#offlineError
    this.flushStats.fsyncs++
    this.flushStats.fsyncMsTotal += syncedMs
    if (truncations === this.#truncations && target > this.#durableOffset) {
      this.flushStats.recordsFlushed += target - this.#durableOffset
      this.#durableOffset = target
    }
    if (segments.some((s) => !s.isActive) && this.#offlineError === undefined) {
      writeCheckpoint(this.#file(RECOVERY_POINT_FILE), this.#durableOffset, { durable: false })
    }
    return this.#durableOffset
  }

  /**
   * Whole raw batches from the one containing `offset`, stopping before any batch whose lastOffset
   * ≥ maxOffset and within maxBytes (the first batch always whole). Reads stay inside one segment.
   * With `maxRecords`, the read also ends at the first index entry past `offset + maxRecords`, so
   * a fetch of a few records does not read (and check) maxBytes of log. The returned buffers are
   * views of one ArrayBuffer allocated with allocUnsafeSlow, so moving `result[0].buffer` to
   * another thread moves them all.
   */
  read(offset: number, maxBytes: number, maxOffset: number, maxRecords?: number): Buffer[] {
    this.#throwIfUnavailable()
    this.#checkRange(offset)
    if (offset === this.#logEndOffset || maxOffset <= offset) return []
    const stopAt =
      maxRecords === undefined ? maxOffset : Math.min(maxOffset, offset + Math.max(1, maxRecords))
    const recent = this.#recent.read(offset, maxBytes, maxOffset, stopAt)
    if (recent !== undefined) return recent
    const segment = this.#segmentFor(offset)
    // Deferred batches are read from the file, so they go there first; a failed write is this
    // partition's failure (offline), not just this read's.
    if (segment.isActive) this.#writeDeferred()
    this.#touch(segment)
    const first = segment.findBatch(offset)
    if (first.kind !== 'batch')
      throw this.#corrupt(segment, first.position, first.kind === 'bad' ? first.reason : 'offset missing')
    if (batchLastOffset(first.header) >= maxOffset) return []
    const end = segment.offsetIndex().positionAfter(stopAt - 1) ?? segment.size
    const length = Math.max(first.size, Math.min(maxBytes, end - first.position))
    const bytes = segment.read(first.position, length)
    return this.#splitBatches(segment, bytes, first.position, maxOffset)
  }

  /**
   * The batches in `bytes`, each checked (structure; CRC unless this process wrote it, see
   * LogSegment.writtenHere: the data a consumer at the tail reads was checked on its way in).
   */
  #splitBatches(segment: LogSegment, bytes: Buffer, filePosition: number, maxOffset: number): Buffer[] {
    const batches: Buffer[] = []
    let pos = 0
    while (pos + BATCH_HEADER_SIZE <= bytes.length) {
      const size = batchSize(bytes, pos)
      if (size < BATCH_HEADER_SIZE) throw this.#corrupt(segment, filePosition + pos, 'bad length')
      if (pos + size > bytes.length) break
      const batch = bytes.subarray(pos, pos + size)
      if (batchLastOffset(readBatchHeader(batch)) >= maxOffset) break
      if (!segment.writtenHere(filePosition + pos)) {
        const check = validateBatch(batch)
        if (!check.ok) throw this.#corrupt(segment, filePosition + pos, check.reason)
      }
      batches.push(batch)
      pos += size
    }
    return batches
  }

  /** The first offset whose batch has maxTimestamp ≥ `timestamp`, or logEndOffset if none does. */
  offsetForTimestamp(timestamp: number): number {
    this.#throwIfUnavailable()
    this.#writeDeferred()
    for (const segment of this.#segments) {
      if (segment.maxTimestamp < timestamp) continue
      this.#touch(segment)
      const step = segment.findTimestamp(timestamp)
      if (step.kind === 'batch') return step.header.baseOffset
      if (step.kind === 'bad') throw this.#corrupt(segment, step.position, step.reason)
    }
    return this.#logEndOffset
  }

  /**
   * Deletes whole old segments past retentionMs / retentionBytes, never the active one, and none
   * holding an offset at or past `keepFrom` (a leader keeps what its followers may still lack: the
   * records past its high watermark).
   */
  enforceRetention(nowMs: number, keepFrom = Number.POSITIVE_INFINITY): { deletedSegments: number } {
    this.#throwIfUnavailable()
    const view = this.#segments.map((s) => ({
      baseOffset: s.baseOffset,
      sizeInBytes: s.size,
      maxTimestamp: s.maxTimestamp,
    }))
    let below = 0
    while (below < view.length - 1 && (view[below + 1]?.baseOffset ?? 0) <= keepFrom) below++
    const count = Math.min(below, segmentsToDelete(view, this.#config, nowMs))
    if (count === 0) return { deletedSegments: 0 }
    this.#deleteSegments(this.#segments.splice(0, count))
    fsyncDirSync(this.dir)
    return { deletedSegments: count }
  }

  /**
   * Replication: drops everything at and after `offset`, which must be a batch boundary. An offset
   * below logStartOffset empties the log and restarts it there.
   */
  truncateTo(offset: number): void {
    this.#throwIfUnavailable()
    if (offset >= this.#logEndOffset) return
    if (offset < this.logStartOffset) this.#restartAt(offset, () => this.#truncateFullyAndStartAt(offset))
    else this.#restartAt(offset, () => this.#truncateSegments(offset))
  }

  /**
   * Replication (Kafka's truncateFullyAndStartAt): a follower whose log ends below its leader's log
   * start (retention deleted what it needed) drops everything, producer state included, and
   * continues at `offset`, which may lie past its own log end.
   */
  truncateFullyAndStartAt(offset: number): void {
    this.#throwIfUnavailable()
    this.#snapshots = pruneSnapshots(this.dir, this.#snapshots, -1, SNAPSHOTS_KEPT)
    // Nothing is below `offset` any more, so the empty log is durable up to it.
    this.#restartAt(offset, () => this.#truncateFullyAndStartAt(offset), offset)
  }

  /**
   * Deletes the leading sealed segments that lie wholly below `offset` (a follower follows its
   * leader's log start instead of its own retention); the active segment stays.
   */
  deleteSegmentsBelow(offset: number): { deletedSegments: number } {
    this.#throwIfUnavailable()
    let count = 0
    while (
      count < this.#segments.length - 1 &&
      (this.#segments[count + 1] as LogSegment).baseOffset <= offset
    ) {
      count++
    }
    if (count === 0) return { deletedSegments: 0 }
    this.#deleteSegments(this.#segments.splice(0, count))
    fsyncDirSync(this.dir)
    return { deletedSegments: count }
  }

  #restartAt(offset: number, cut: () => void, durableOffset = Math.min(this.#durableOffset, offset)): void {
    try {
      cut()
    } catch (err) {
      if (err instanceof InvalidRequestError) throw err
      throw this.#goOffline(
        new StorageError(`truncation of ${this.dir} to ${offset} failed`, { offset }, { cause: err }),
      )
    }
    this.#recent.clear()
    this.#logEndOffset = offset
    this.#durableOffset = durableOffset
    this.#truncations++
    this.#unsynced.add(this.#active)
    // Durable at once: a stale, higher recovery point would let recovery skip the rewritten tail.
    writeCheckpoint(this.#file(RECOVERY_POINT_FILE), this.#durableOffset, { durable: true })
    fsyncDirSync(this.dir)
    this.#snapshots = pruneSnapshots(this.dir, this.#snapshots, offset, SNAPSHOTS_KEPT)
    this.#rebuildProducerState(this.#snapshots)
  }

  #truncateSegments(offset: number): void {
    const i = segmentIndexFor(
      this.#segments.map((s) => s.baseOffset),
      offset,
    )
    const segment = this.#segments[i] as LogSegment
    this.#touch(segment)
    segment.truncateTo(offset)
    this.#deleteSegments(this.#segments.splice(i + 1))
    this.#openSegments.delete(segment)
    if (!segment.isActive) segment.activate()
  }

  #truncateFullyAndStartAt(offset: number): void {
    this.#deleteSegments(this.#segments.splice(0))
    const segment = LogSegment.create(this.dir, offset, this.#segmentOptions, Date.now())
    segment.activate()
    this.#segments.push(segment)
  }

  #deleteSegments(segments: LogSegment[]): void {
    for (const segment of segments) {
      segment.delete()
      this.#unsynced.delete(segment)
      this.#openSegments.delete(segment)
    }
    if (segments.length > 0) this.#dirDirty = true
  }

  /**
   * Flushes, then writes the producer snapshot, the recovery point and the clean-shutdown marker,
   * and closes every fd. On an offline log it only closes fds: nothing on disk changes.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    try {
      if (this.#offlineError === undefined) await this.#writeCleanShutdown()
    } finally {
      this.#closed = true
      this.#recent.clear()
      for (const segment of this.#segments) segment.closeHandles()
      this.#openSegments.clear()
    }
  }

  async #writeCleanShutdown(): Promise<void> {
    await this.flush()
    const active = this.#active
    active.finalizeTimeIndex()
    active.syncNow()
    this.#expireProducers()
    writeSnapshot(this.dir, this.#producers, this.#logEndOffset)
    writeCheckpoint(this.#file(RECOVERY_POINT_FILE), this.#logEndOffset, { durable: true })
    writeMarker(this.#file(CLEAN_SHUTDOWN_FILE))
    fsyncDirSync(this.dir)
  }

  #loadProducerState(snapshotOffsets: readonly number[]): void {
    this.#snapshots = pruneSnapshots(this.dir, snapshotOffsets, this.#logEndOffset, SNAPSHOTS_KEPT)
    this.#rebuildProducerState(this.#snapshots)
    this.#expireProducers()
  }

  /** Drops producers idle longer than producerIdExpirationMs, so the state stays bounded. */
  #expireProducers(): void {
    this.#producers.removeExpired(
      Date.now(),
      this.#config.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    )
  }

  /** The newest usable snapshot at or below logEndOffset, then every batch header after it. */
  #rebuildProducerState(snapshotOffsets: readonly number[]): void {
    const from = loadLatestSnapshot(this.dir, snapshotOffsets, this.#logEndOffset, this.#producers)
    this.#forEachBatch(Math.max(from ?? 0, this.logStartOffset), (header, size) =>
      this.#producers.update(header, size),
    )
  }

  #forEachBatch(fromOffset: number, visit: (header: BatchHeader, size: number) => void): void {
    if (fromOffset >= this.#logEndOffset) return
    const first = segmentIndexFor(
      this.#segments.map((s) => s.baseOffset),
      fromOffset,
    )
    for (const segment of this.#segments.slice(first)) {
      this.#touch(segment)
      const start = segment.findBatch(fromOffset)
      if (start.kind !== 'batch') continue
      const scanner = segment.scanner(start.position, false)
      for (let step = scanner.next(); step.kind === 'batch'; step = scanner.next())
        visit(step.header, step.size)
    }
  }

  #writeProducerSnapshot(): void {
    try {
      this.#expireProducers()
      writeSnapshot(this.dir, this.#producers, this.#logEndOffset)
      this.#snapshots = pruneSnapshots(
        this.dir,
        [...this.#snapshots, this.#logEndOffset],
        this.#logEndOffset,
        SNAPSHOTS_KEPT,
      )
    } catch (err) {
      this.#warn(`cannot write the producer snapshot of ${this.dir} at ${this.#logEndOffset}: ${String(err)}`)
    }
  }

  #segmentFor(offset: number): LogSegment {
    let lo = 0
    let hi = this.#segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if ((this.#segments[mid] as LogSegment).baseOffset <= offset) lo = mid
      else hi = mid - 1
    }
    return this.#segments[lo] as LogSegment
  }

  /** Marks a sealed segment used; closes the least recently used ones past maxOpenSegments. */
  #touch(segment: LogSegment): void {
    if (segment.isActive) return
    this.#openSegments.delete(segment)
    this.#openSegments.set(segment, true)
    if (this.#openSegments.size <= this.#maxOpenSegments) return
    for (const old of this.#openSegments.keys()) {
      if (this.#openSegments.size <= this.#maxOpenSegments) break
      if (old === segment || old.isPinned || this.#unsynced.has(old)) continue
      old.closeHandles()
      this.#openSegments.delete(old)
    }
  }

  #checkRange(offset: number): void {
    if (offset >= this.logStartOffset && offset <= this.#logEndOffset) return
    throw new OffsetOutOfRangeError(
      `offset ${offset} is outside [${this.logStartOffset}, ${this.#logEndOffset}] of ${this.dir}`,
      { offset, logStartOffset: this.logStartOffset, logEndOffset: this.#logEndOffset },
    )
  }

  #corrupt(segment: LogSegment, position: number, reason: string): Error {
    return this.#goOffline(
      new PartitionOfflineError(
        `corrupt record batch in ${segment.logFile} at byte position ${position} (${reason})`,
        {
          file: segment.logFile,
          position,
          reason,
        },
      ),
    )
  }

  #goOffline(err: Error): Error {
    this.#offlineError ??= err
    this.#recent.clear()
    this.#warn(err.message)
    return this.#offlineError
  }

  #throwIfUnavailable(): void {
    if (this.#offlineError !== undefined) throw this.#offlineError
    if (this.#closed) throw closedError(this.dir)
  }

  #file(name: string): string {
    return path.join(this.dir, name)
  }
}

function closedError(dir: string): Error {
  return new StorageError(`partition log ${dir} is closed`, { dir })
}

function checkConfig(config: LogConfig): void {
  const problems: string[] = []
  if (!(config.segmentBytes >= BATCH_HEADER_SIZE && config.segmentBytes <= MAX_SEGMENT_BYTES)) {
    problems.push(`segmentBytes must be in [${BATCH_HEADER_SIZE}, ${MAX_SEGMENT_BYTES}]`)
  }
  if (!(config.segmentMs > 0)) problems.push('segmentMs must be > 0')
  if (!(config.indexIntervalBytes >= 0)) problems.push('indexIntervalBytes must be ≥ 0')
  if (config.maxOpenSegments !== undefined && !(config.maxOpenSegments >= 1))
    problems.push('maxOpenSegments must be ≥ 1')
  if (config.producerIdExpirationMs !== undefined && !(config.producerIdExpirationMs > 0))
    problems.push('producerIdExpirationMs must be > 0')
  if (config.recentBatchBytes !== undefined && !(config.recentBatchBytes >= 0))
    problems.push('recentBatchBytes must be ≥ 0')
  if (problems.length > 0)
    throw new InvalidConfigError(`invalid log config: ${problems.join('; ')}`, { problems })
}
