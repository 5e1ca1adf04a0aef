/**
 * The owner of a set of partition logs, in whichever thread serves them.
 *
 * A `PartitionHost` runs in a partition worker, or in the main thread with `--workers 0`; either
 * way it is the only writer of its partitions (one thread, no locks). It applies the flush policy:
 * acks=all waits for the group-commit fsync that covers its batch; acks=0/1 return after the write
 * and a background flush follows per `flushIntervalMs` / `flushMessages`. Consumers never read
 * past the high watermark, which on a single broker is the durable (fsynced) end of the log, so a
 * crash can never take back a record that someone has already read.
 */

import { rm } from 'node:fs/promises'
import {
  InvalidRequestError,
  OffsetOutOfRangeError,
  PartitionNotFoundError,
  PartitionOfflineError,
} from '../errors.js'
import { PartitionLog, readBatchHeader, recordSlices } from '../storage/index.js'
import {
  buildGroupRecords,
  buildPartitionFetchBody,
  groupRecordPrefix,
  type RecordSlice,
  recordTimestamp,
} from '../wire/record-codec.js'
import {
  appendReplicaBatches,
  epochsOf,
  followLeaderLogStart,
  leaderEpochForAppend,
  openReplicaState,
  type ReplicaState,
  readForReplica,
  replicaHighWatermark,
  restartReplicaAt,
  setReplicaRole,
  truncateReplica,
} from './replica-log.js'
import type {
  AppendRequest,
  AppendResult,
  EpochsResult,
  FetchRequest,
  FetchResult,
  HighWatermarkRequest,
  HostEvent,
  HostRequest,
  HostResponses,
  HostStats,
  ListOffsetRequest,
  OpenRequest,
  PartitionLogSettings,
  PartitionRef,
  PartitionState,
  ReplicaAppendRequest,
  ReplicaAppendResult,
  ReplicaReadRequest,
  ReplicaReadResult,
  ReplicaStateRequest,
  TruncateRequest,
} from './worker-messages.js'
import { emptyHostStats } from './worker-messages.js'

/** fsync duration buckets in seconds (a disk fsync is usually 0.1–20 ms; past 1 s something is wrong). */
const FSYNC_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5]

interface HostedPartition {
  ref: PartitionRef
  log: PartitionLog
  settings: PartitionLogSettings
  /** Records appended since the last flush started, for `flushMessages`. */
  unflushedRecords: number
  flushTimer: NodeJS.Timeout | undefined
  groupPrefix: Buffer
  lastHighWatermark: number
  lastLogStartOffset: number
  /** The log's flushStats already added to this host's stats: each fsync round is counted once. */
  counted: { fsyncs: number; fsyncMsTotal: number; recordsFlushed: number }
  /** Cluster mode: role, leader epoch, high watermark and epoch cache (src/workers/replica-log.ts). */
  replica: ReplicaState | undefined
  /** Until when a group reader counts as waiting at the end of the log (tails are pushed to it). */
  tailWatchedUntil: number
}

/** A tail larger than this is not pushed: a reader that far behind fetches as usual. */
export const TAIL_PUSH_MAX_BYTES = 64 * 1024
/**
 * A group fetch that reached the high watermark marks the partition watched this long. Served from
 * pushed tails, a caught-up reader stops reaching the owner, so the mark lapses and one fetch in
 * this interval goes through to renew it.
 */
const TAIL_WATCH_MS = 10_000

export interface PartitionHostOptions {
  /** Push new records with the high watermark to group readers at the tail (partition worker threads). */
  pushTails?: boolean
}

type ReplicatedPartition = HostedPartition & { replica: ReplicaState }

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export class PartitionHost {
  readonly #partitions = new Map<string, HostedPartition>()
  readonly #emit: (event: HostEvent) => void
  readonly #stats: HostStats = {
    ...emptyHostStats(),
    fsyncBuckets: FSYNC_BUCKETS,
    fsyncCounts: FSYNC_BUCKETS.map(() => 0),
  }

  readonly #pushTails: boolean

  constructor(emit: (event: HostEvent) => void, options: PartitionHostOptions = {}) {
    this.#emit = emit
    this.#pushTails = options.pushTails === true
  }

  /** One entry point for every request, so a worker and the main thread dispatch the same way. */
  async handle<R extends HostRequest>(req: R): Promise<HostResponses[R['op']]> {
    type Out = HostResponses[R['op']]
    switch (req.op) {
      case 'open':
        return (await this.open(req)) as Out
      case 'close':
        return (await this.close(req, req.remove)) as Out
      case 'append':
        return (await this.append(req)) as Out
      case 'fetch':
        return this.fetch(req) as Out
      case 'listOffset':
        return this.listOffset(req) as Out
      case 'stats':
        return this.stats() as Out
      case 'retention':
        return this.retention(req.nowMs) as Out
      case 'replicaState':
        return this.replicaState(req) as Out
      case 'highWatermark':
        return this.highWatermarkBound(req) as Out
      case 'replicaRead':
        return this.replicaRead(req) as Out
      case 'replicaAppend':
        return (await this.replicaAppend(req)) as Out
      case 'truncate':
        return this.truncate(req) as Out
      case 'epochs':
        return this.epochs(req) as Out
    }
  }

  async open(req: OpenRequest): Promise<PartitionState> {
    const key = partitionKey(req.topic, req.partition)
    const existing = this.#partitions.get(key)
    if (existing) return this.#state(existing)
    const log = await PartitionLog.open(req.dir, req.settings, {
      onWarning: (msg) =>
        process.emitWarning(`${req.topic}/${req.partition}: ${msg}`, 'StrataStorageWarning'),
    })
    const hosted: HostedPartition = {
      ref: { topic: req.topic, partition: req.partition },
      log,
      settings: req.settings,
      unflushedRecords: 0,
      flushTimer: undefined,
      groupPrefix: groupRecordPrefix(req.topic, req.partition),
      lastHighWatermark: log.durableOffset,
      lastLogStartOffset: log.logStartOffset,
      counted: { ...log.flushStats },
      replica: req.replicated && !log.offlineError ? openReplicaState(log) : undefined,
      tailWatchedUntil: 0,
    }
    this.#partitions.set(key, hosted)
    this.#stats.partitions = this.#partitions.size
    return this.#state(hosted)
  }

  async close(ref: PartitionRef, remove: boolean): Promise<undefined> {
    const key = partitionKey(ref.topic, ref.partition)
    const hosted = this.#partitions.get(key)
    if (hosted) {
      this.#partitions.delete(key)
      this.#stats.partitions = this.#partitions.size
      clearTimeout(hosted.flushTimer)
      try {
        await hosted.log.close()
      } catch (err) {
        if (!remove) throw err
      }
      if (remove) await rm(hosted.log.dir, { recursive: true, force: true })
    }
    return undefined
  }

  async closeAll(): Promise<void> {
    const all = [...this.#partitions.values()]
    await Promise.allSettled(all.map((p) => this.close(p.ref, false)))
  }

  async append(req: AppendRequest): Promise<AppendResult> {
    const hosted = this.#get(req)
    const leaderEpoch = hosted.replica ? leaderEpochForAppend(hosted.replica, req) : undefined
    // acks=all waits for the flush below, which writes the batch first: a round's batches share one writev.
    const info = hosted.log.append(req.batch, {
      leaderEpoch,
      checkSequenceGap: req.checkSequenceGap === true,
      deferWrite: req.acks === 'all',
    })
    // A leader's followers long-poll for new data: the state event wakes them in the main thread.
    if (hosted.replica && !info.duplicate) this.#emit({ type: 'state', state: this.#state(hosted) })
    const records = info.lastOffset - info.baseOffset + 1
    if (!info.duplicate) {
      this.#stats.appendBatches++
      this.#stats.appendRecords += records
      this.#stats.appendBytes += req.batch.length
      hosted.unflushedRecords += records
    }
    const result: AppendResult = {
      baseOffset: info.baseOffset,
      lastOffset: info.lastOffset,
      durability: 'written',
      duplicate: info.duplicate === true,
    }
    if (req.acks === 'all') {
      if (hosted.log.durableOffset <= info.lastOffset) await this.#flush(hosted)
      result.durability = 'fsynced'
    } else {
      this.#scheduleFlush(hosted)
      if (hosted.log.durableOffset > info.lastOffset) result.durability = 'fsynced'
    }
    return result
  }

  fetch(req: FetchRequest): FetchResult {
    const hosted = this.#get(req)
    const log = hosted.log
    if (log.offlineError) throw new PartitionOfflineError(log.offlineError.message, { ...req, op: undefined })
    const highWatermark = this.#highWatermark(hosted)
    const logStartOffset = log.logStartOffset
    if (req.offset < logStartOffset || req.offset > log.logEndOffset) {
      throw new OffsetOutOfRangeError(
        `offset ${req.offset} is outside [${logStartOffset}, ${log.logEndOffset}] of ${req.topic}/${req.partition}`,
        { offset: req.offset, logStartOffset, logEndOffset: log.logEndOffset, highWatermark },
      )
    }
    const slices = this.#collect(
      log.read(req.offset, req.maxBytes, highWatermark, req.maxRecords),
      req,
      highWatermark,
    )
    const last = slices[slices.length - 1]
    const nextOffset = last === undefined ? req.offset : last.offset + 1
    let bytes = 0
    for (const s of slices) bytes += s.length
    this.#stats.fetchRecords += slices.length
    this.#stats.fetchBytes += bytes
    if (this.#pushTails && req.format === 'group' && nextOffset >= highWatermark)
      hosted.tailWatchedUntil = Date.now() + TAIL_WATCH_MS
    const body =
      req.format === 'group'
        ? buildGroupRecords(slices, hosted.groupPrefix)
        : buildPartitionFetchBody(slices, nextOffset, highWatermark, logStartOffset)
    return { body, recordCount: slices.length, nextOffset, highWatermark, logStartOffset, bytes }
  }

  listOffset(req: ListOffsetRequest): { offset: number } {
    const hosted = this.#get(req)
    const highWatermark = this.#highWatermark(hosted)
    if (req.at === 'earliest') return { offset: hosted.log.logStartOffset }
    if (req.at === 'latest') return { offset: highWatermark }
    return { offset: this.#offsetForTimestamp(hosted, req.at, highWatermark) }
  }

  /**
   * Kafka's ListOffsets by time: the first record whose timestamp is ≥ `ts`. The time index finds
   * the batch; the records' own timestamps (the first entry of each body) find the record in it.
   */
  #offsetForTimestamp(hosted: HostedPartition, ts: number, highWatermark: number): number {
    const batchStart = hosted.log.offsetForTimestamp(ts)
    if (batchStart >= highWatermark) return highWatermark
    for (const batch of hosted.log.read(batchStart, 1, highWatermark)) {
      for (const rec of recordSlices(batch))
        if (rec.offset >= batchStart && recordTimestamp(rec.bytes) >= ts) return rec.offset
    }
    // Unreachable while batch maxTimestamp is the max of its records; the batch start is a safe answer.
    return batchStart
  }

  stats(): HostStats {
    return { ...this.#stats, fsyncCounts: [...this.#stats.fsyncCounts] }
  }

  retention(nowMs: number): { deletedSegments: number } {
    let deletedSegments = 0
    for (const hosted of this.#partitions.values()) {
      if (hosted.log.offlineError) continue
      // A replica that does not lead deletes only below its leader's log start (replicaAppend);
      // a leader only below its high watermark, which its in-sync followers hold already.
      if (hosted.replica && hosted.replica.role !== 'leader') continue
      const keepFrom = hosted.replica ? this.#highWatermark(hosted) : undefined
      deletedSegments += hosted.log.enforceRetention(nowMs, keepFrom).deletedSegments
      this.#maybeEmit(hosted)
    }
    this.#stats.segmentsDeleted += deletedSegments
    return { deletedSegments }
  }

  /** Records of the read batches from `req.offset` on, within maxRecords, maxBytes and the high watermark. */
  #collect(
    batches: Buffer[],
    req: Pick<FetchRequest, 'offset' | 'maxRecords' | 'maxBytes'>,
    highWatermark: number,
  ): RecordSlice[] {
    const slices: RecordSlice[] = []
    let bytes = 0
    for (const batch of batches) {
      const header = readBatchHeader(batch, 0)
      if (header.baseOffset + header.recordCount <= req.offset) continue
      for (const rec of recordSlices(batch)) {
        if (rec.offset < req.offset) continue
        if (rec.offset >= highWatermark || slices.length >= req.maxRecords) return slices
        // The first record always goes, whatever its size, or a large record would block the partition.
        if (slices.length > 0 && bytes + rec.bytes.length > req.maxBytes) return slices
        bytes += rec.bytes.length
        slices.push({ offset: rec.offset, batch: rec.bytes, start: 0, length: rec.bytes.length })
      }
    }
    return slices
  }

  #highWatermark(hosted: HostedPartition): number {
    if (hosted.replica) return replicaHighWatermark(hosted.log, hosted.replica)
    return hosted.log.durableOffset
  }

  // ---- replication (cluster mode): the logic is in src/workers/replica-log.ts ----------------

  replicaState(req: ReplicaStateRequest): PartitionState {
    const hosted = this.#get(req)
    hosted.replica ??= openReplicaState(hosted.log)
    setReplicaRole(hosted.log, hosted.replica, req.role, req.leaderEpoch)
    return this.#emitState(hosted)
  }

  highWatermarkBound(req: HighWatermarkRequest): PartitionState {
    const hosted = this.#replicated(req)
    hosted.replica.bound = req.bound
    this.#maybeEmit(hosted)
    return this.#state(hosted)
  }

  replicaRead(req: ReplicaReadRequest): ReplicaReadResult {
    const hosted = this.#replicated(req)
    return readForReplica(hosted.log, hosted.replica, req, req.offset, req.maxBytes)
  }

  /** Follower: append verbatim, fsync (so the next fetch offset means durable here), take the leader's HW. */
  async replicaAppend(req: ReplicaAppendRequest): Promise<ReplicaAppendResult> {
    const hosted = this.#replicated(req)
    hosted.unflushedRecords += appendReplicaBatches(hosted.log, hosted.replica, req, req.batches)
    if (hosted.log.durableOffset < hosted.log.logEndOffset) await this.#flush(hosted)
    hosted.replica.bound = req.leaderHighWatermark
    this.#stats.segmentsDeleted += followLeaderLogStart(hosted.log, req.leaderLogStartOffset)
    this.#maybeEmit(hosted)
    return { logEndOffset: hosted.log.durableOffset, highWatermark: this.#highWatermark(hosted) }
  }

  truncate(req: TruncateRequest): PartitionState {
    const hosted = this.#replicated(req)
    if (req.fully) restartReplicaAt(hosted.log, hosted.replica, req, req.offset)
    else truncateReplica(hosted.log, hosted.replica, req, req.offset)
    return this.#emitState(hosted)
  }

  epochs(req: PartitionRef): EpochsResult {
    const hosted = this.#replicated(req)
    return epochsOf(hosted.log, hosted.replica)
  }

  #replicated(ref: PartitionRef): ReplicatedPartition {
    const hosted = this.#get(ref)
    if (!hosted.replica) {
      throw new InvalidRequestError(`partition ${ref.topic}/${ref.partition} is not replicated`, { ...ref })
    }
    return hosted as ReplicatedPartition
  }

  #emitState(hosted: HostedPartition): PartitionState {
    const state = this.#state(hosted)
    hosted.lastHighWatermark = state.highWatermark
    hosted.lastLogStartOffset = state.logStartOffset
    this.#emit({ type: 'state', state })
    return state
  }

  #get(ref: PartitionRef): HostedPartition {
    const hosted = this.#partitions.get(partitionKey(ref.topic, ref.partition))
    if (!hosted) {
      throw new PartitionNotFoundError(`partition ${ref.topic}/${ref.partition} is not open on this broker`, {
        topic: ref.topic,
        partition: ref.partition,
      })
    }
    return hosted
  }

  #state(hosted: HostedPartition): PartitionState {
    const log = hosted.log
    const state: PartitionState = {
      topic: hosted.ref.topic,
      partition: hosted.ref.partition,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
      highWatermark: this.#highWatermark(hosted),
      offline: log.offlineError?.message,
    }
    if (hosted.replica) {
      state.replicaRole = hosted.replica.role
      state.leaderEpoch = hosted.replica.leaderEpoch
    }
    return state
  }

  #maybeEmit(hosted: HostedPartition): void {
    const hw = this.#highWatermark(hosted)
    const start = hosted.log.logStartOffset
    if (hw === hosted.lastHighWatermark && start === hosted.lastLogStartOffset && !hosted.log.offlineError)
      return
    const previous = hosted.lastHighWatermark
    hosted.lastHighWatermark = hw
    hosted.lastLogStartOffset = start
    const state = this.#state(hosted)
    if (hw > previous && this.#pushTails) state.tail = this.#tail(hosted, previous, hw)
    this.#emit({ type: 'state', state })
  }

  /**
   * The records [from, to) in the group format, when a group reader waits at the tail and they are
   * few. Only below a high watermark that no truncation can take back: on a single broker, or on
   * the leader (a follower's high watermark comes from its leader; it never pushes).
   */
  #tail(hosted: HostedPartition, from: number, to: number) {
    const log = hosted.log
    if (hosted.tailWatchedUntil < Date.now() || log.offlineError) return undefined
    if (hosted.replica && hosted.replica.role !== 'leader') return undefined
    if (from < log.logStartOffset) return undefined
    const req = { offset: from, maxRecords: to - from, maxBytes: TAIL_PUSH_MAX_BYTES }
    const slices = this.#collect(log.read(from, TAIL_PUSH_MAX_BYTES, to, to - from), req, to)
    if (slices.length < to - from) return undefined
    const ends: number[] = []
    const storedEnds: number[] = []
    let stored = 0
    for (const slice of slices) {
      stored += slice.length
      storedEnds.push(stored)
    }
    return { from, body: buildGroupRecords(slices, hosted.groupPrefix, ends), ends, storedEnds }
  }

  /** One group-commit flush, timed for the metrics, and the state event that wakes long polls. */
  async #flush(hosted: HostedPartition): Promise<void> {
    clearTimeout(hosted.flushTimer)
    hosted.flushTimer = undefined
    hosted.unflushedRecords = 0
    try {
      await hosted.log.flush()
    } finally {
      // Concurrent callers share fsync rounds (group commit): count the log's rounds since the last
      // count, not each caller's wait, or one fdatasync would be counted once per waiting append.
      const now = hosted.log.flushStats
      const ran = now.fsyncs - hosted.counted.fsyncs
      if (ran > 0) {
        const seconds = (now.fsyncMsTotal - hosted.counted.fsyncMsTotal) / 1000
        this.#recordFsync(seconds / ran, ran, now.recordsFlushed - hosted.counted.recordsFlushed)
        hosted.counted = { ...now }
      }
      this.#maybeEmit(hosted)
    }
  }

  #recordFsync(seconds: number, count: number, records: number): void {
    this.#stats.fsyncs += count
    this.#stats.fsyncSecondsTotal += seconds * count
    this.#stats.recordsFlushed += records
    for (let i = 0; i < FSYNC_BUCKETS.length; i++) {
      if (seconds <= (FSYNC_BUCKETS[i] as number))
        this.#stats.fsyncCounts[i] = (this.#stats.fsyncCounts[i] ?? 0) + count
    }
  }

  #scheduleFlush(hosted: HostedPartition): void {
    const { flushIntervalMs, flushMessages } = hosted.settings
    const due = flushIntervalMs === 0 || (flushMessages > 0 && hosted.unflushedRecords >= flushMessages)
    if (due) {
      this.#flush(hosted).catch(() => this.#maybeEmit(hosted))
    } else if (hosted.flushTimer === undefined) {
      hosted.flushTimer = setTimeout(() => {
        hosted.flushTimer = undefined
        this.#flush(hosted).catch(() => this.#maybeEmit(hosted))
      }, flushIntervalMs)
      hosted.flushTimer.unref()
    }
  }
}
