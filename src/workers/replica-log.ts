/**
 * The partition-owner side of replication: what a `PartitionHost` does with a replicated partition.
 *
 * Runs in the partition's owner thread (a partition worker, or the main thread with --workers 0),
 * next to the `PartitionLog` it works on; the main thread drives it through the host requests of
 * worker-messages.ts. It holds the replica's role, its leader epoch, the high watermark and the
 * leader epoch cache.
 *
 * High watermark. Leader: min(durableOffset, bound) where `bound` is the lowest fetch offset of
 * the in-sync followers, pushed by the main thread (leader-state.ts); it never goes back while the
 * replica leads. Follower: min(durableOffset, the leader's high watermark). Before its first role a
 * replicated partition shows 0: nothing is known to be committed yet, so nothing is readable.
 *
 * Invariants: only a leader appends with `append` (stamping its epoch); only a follower appends
 * verbatim and truncates; an epoch enters the cache before its first batch is written.
 */
import { InvalidRequestError, NotLeaderError, OffsetOutOfRangeError } from '../errors.js'
import {
  BATCH_HEADER_SIZE,
  batchLastOffset,
  batchSize,
  LeaderEpochCache,
  type PartitionLog,
  readBatchHeader,
} from '../storage/index.js'
import type { EpochsResult, PartitionRef, ReplicaReadResult, ReplicaRole } from './worker-messages.js'

/** Chunk size of the one-off scan that rebuilds a missing leader-epoch-checkpoint. */
const EPOCH_SCAN_BYTES = 1024 * 1024

export interface ReplicaState {
  role: ReplicaRole | undefined
  leaderEpoch: number
  bound: number
  highWatermark: number
  readonly epochs: LeaderEpochCache
}

export function openReplicaState(log: PartitionLog): ReplicaState {
  const epochs = LeaderEpochCache.open(log.dir, log.logEndOffset, () => batchEpochs(log))
  return { role: undefined, leaderEpoch: -1, bound: 0, highWatermark: 0, epochs }
}

/** The leader epoch and base offset of every batch, oldest first (only to rebuild the cache). */
function* batchEpochs(log: PartitionLog): Generator<{ leaderEpoch: number; baseOffset: number }> {
  let offset = log.logStartOffset
  while (offset < log.logEndOffset) {
    const batches = log.read(offset, EPOCH_SCAN_BYTES, log.logEndOffset)
    if (batches.length === 0) return
    for (const batch of batches) {
      const header = readBatchHeader(batch)
      yield { leaderEpoch: header.leaderEpoch, baseOffset: header.baseOffset }
      offset = batchLastOffset(header) + 1
    }
  }
}

export function replicaHighWatermark(log: PartitionLog, r: ReplicaState): number {
  const bound = Math.min(log.durableOffset, r.bound)
  if (r.role !== 'leader') r.highWatermark = bound
  else if (bound > r.highWatermark) r.highWatermark = bound
  return r.highWatermark
}

/**
 * A new role or epoch. A new leader keeps the high watermark it had as a follower and waits for its
 * followers' fetch offsets before moving it; its epoch starts at its log end offset.
 */
export function setReplicaRole(log: PartitionLog, r: ReplicaState, role: ReplicaRole, epoch: number): void {
  const hw = replicaHighWatermark(log, r)
  r.role = role
  r.leaderEpoch = epoch
  r.bound = hw
  r.highWatermark = hw
  if (role === 'leader') r.epochs.assign(epoch, log.logEndOffset)
}

/** The epoch to stamp on a producer's batch; only a leader takes them. */
export function leaderEpochForAppend(r: ReplicaState, ref: PartitionRef): number {
  if (r.role !== 'leader') {
    throw new NotLeaderError(`this broker does not lead ${ref.topic}/${ref.partition}`, {
      topic: ref.topic,
      partition: ref.partition,
    })
  }
  return r.leaderEpoch
}

export function readForReplica(
  log: PartitionLog,
  r: ReplicaState,
  ref: PartitionRef,
  offset: number,
  maxBytes: number,
): ReplicaReadResult {
  leaderEpochForAppend(r, ref)
  const { logStartOffset, logEndOffset } = log
  if (offset < logStartOffset || offset > logEndOffset) {
    throw new OffsetOutOfRangeError(
      `replica fetch offset ${offset} is outside [${logStartOffset}, ${logEndOffset}] of ${ref.topic}/${ref.partition}`,
      { offset, logStartOffset, logEndOffset },
    )
  }
  const batches = log.read(offset, maxBytes, logEndOffset)
  return {
    batches: batches.length === 1 ? (batches[0] as Buffer) : Buffer.concat(batches),
    logStartOffset,
    logEndOffset,
    highWatermark: replicaHighWatermark(log, r),
  }
}

/**
 * Follower: appends the leader's batches at their own offsets (CRC checked by the log). Batches the
 * log already has (a repeated fetch) are skipped. Returns the records appended; the caller fsyncs.
 */
export function appendReplicaBatches(
  log: PartitionLog,
  r: ReplicaState,
  ref: PartitionRef,
  batches: Buffer,
): number {
  if (r.role !== 'follower') {
    throw new InvalidRequestError(`${ref.topic}/${ref.partition} is not a follower here`, { ...ref })
  }
  let records = 0
  for (let pos = 0; pos < batches.length; ) {
    const size = batches.length - pos >= BATCH_HEADER_SIZE ? batchSize(batches, pos) : 0
    if (size < BATCH_HEADER_SIZE || pos + size > batches.length) {
      throw new InvalidRequestError(`replicated data of ${ref.topic}/${ref.partition} ends in a torn batch`, {
        position: pos,
      })
    }
    const batch = batches.subarray(pos, pos + size)
    const header = readBatchHeader(batch)
    if (batchLastOffset(header) >= log.logEndOffset) {
      if (header.leaderEpoch > r.epochs.latestEpoch) r.epochs.assign(header.leaderEpoch, header.baseOffset)
      log.appendVerbatim(batch)
      records += header.recordCount
    }
    pos += size
  }
  return records
}

/** Follower: truncates at the batch boundary at or below `offset`, and forgets epochs past it. */
export function truncateReplica(log: PartitionLog, r: ReplicaState, ref: PartitionRef, offset: number): void {
  if (r.role === 'leader') {
    throw new InvalidRequestError(`${ref.topic}/${ref.partition} leads here; a leader never truncates`, {
      ...ref,
    })
  }
  if (offset >= log.logEndOffset) return
  let boundary = offset
  if (offset > log.logStartOffset) {
    const first = log.read(offset, 1, log.logEndOffset)[0]
    if (first !== undefined) boundary = Math.min(offset, readBatchHeader(first).baseOffset)
  }
  log.truncateTo(boundary)
  r.epochs.truncateFromEnd(log.logEndOffset)
  replicaHighWatermark(log, r)
}

/**
 * Follower whose log ends below the leader's log start: everything here is older than anything the
 * leader still has, so the log is emptied and continues at the leader's log start.
 */
export function restartReplicaAt(
  log: PartitionLog,
  r: ReplicaState,
  ref: PartitionRef,
  offset: number,
): void {
  if (r.role !== 'follower') {
    throw new InvalidRequestError(`${ref.topic}/${ref.partition} is not a follower here`, { ...ref })
  }
  log.truncateFullyAndStartAt(offset)
  r.epochs.clear()
  replicaHighWatermark(log, r)
}

/**
 * Follower retention: segments wholly below the leader's log start go, so every replica keeps what
 * the leader keeps; its own clock and size never delete anything (they would make replicas differ).
 */
export function followLeaderLogStart(log: PartitionLog, leaderLogStartOffset: number): number {
  if (leaderLogStartOffset <= log.logStartOffset) return 0
  return log.deleteSegmentsBelow(Math.min(leaderLogStartOffset, log.logEndOffset)).deletedSegments
}

export function epochsOf(log: PartitionLog, r: ReplicaState): EpochsResult {
  return {
    entries: r.epochs.entries.map((e) => ({ ...e })),
    logStartOffset: log.logStartOffset,
    logEndOffset: log.logEndOffset,
  }
}
