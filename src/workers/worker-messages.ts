/**
 * The messages between the HTTP thread and the threads that own partitions.
 *
 * The same requests are served by a `PartitionHost` in the main thread (`--workers 0`) or in a
 * partition worker (piscina), so everything here must survive structured cloning: plain objects,
 * numbers, strings and Buffers (which the router transfers rather than copies).
 */

export type Acks = 0 | 1 | 'all'

/** Durability actually reached before an answer (the receipt of docs/http-api.md, "Produce"). */
export const Durability = {
  none: 'none',
  written: 'written',
  fsynced: 'fsynced',
  replicated: 'replicated',
} as const
export type Durability = (typeof Durability)[keyof typeof Durability]

/** A partition's log settings, resolved from broker defaults and the topic's config. */
export interface PartitionLogSettings {
  segmentBytes: number
  segmentMs: number
  retentionMs: number
  retentionBytes: number
  indexIntervalBytes: number
  flushIntervalMs: number
  flushMessages: number
}

export interface PartitionRef {
  topic: string
  partition: number
}

/** What a partition's owner reports whenever one of these offsets moves. */
export interface PartitionState extends PartitionRef {
  logStartOffset: number
  logEndOffset: number
  /** Consumers never read past it: durable (and, replicated, on every in-sync replica). */
  highWatermark: number
  offline: string | undefined
  /** Cluster mode only (absent on a single broker): this replica's role and its leader epoch. */
  replicaRole?: ReplicaRole | undefined
  leaderEpoch?: number | undefined
  /**
   * The records that just became readable, [tail.from, tail.from + ends.length), in the `group`
   * fetch format, pushed with the high watermark so a group member waiting at the end of the log
   * is answered without another round trip to the owner thread (workers/tail-cache.ts).
   */
  tail?: RecordTail | undefined
}

export interface RecordTail {
  from: number
  /** The records back to back, in the `group` fetch format. */
  body: Uint8Array
  /** Where each record ends in `body`. */
  ends: number[]
  /** The stored record bytes up to and including each record (what fetches count and limit). */
  storedEnds: number[]
}

export interface OpenRequest extends PartitionRef {
  op: 'open'
  dir: string
  settings: PartitionLogSettings
  /**
   * Cluster mode: the partition is replicated. It takes no appends and shows a high watermark of 0
   * until a `replicaState` request makes it a leader or a follower.
   */
  replicated?: boolean
}

export interface CloseRequest extends PartitionRef {
  op: 'close'
  /** Remove the partition's directory after closing (topic deletion). */
  remove: boolean
}

export interface AppendRequest extends PartitionRef {
  op: 'append'
  /** One record batch built by `buildBatch`; its baseOffset and CRC are filled by the log. */
  batch: Buffer
  acks: Acks
  /**
   * The batch's sequence is its partition's own count (the partition route): one that skips past
   * the producer's next sequence is refused (OUT_OF_ORDER_SEQUENCE) instead of written.
   */
  checkSequenceGap?: boolean
}

export interface AppendResult {
  baseOffset: number
  lastOffset: number
  durability: Durability
  duplicate: boolean
}

export const FetchFormat = {
  /** `{records: [...], nextOffset, highWatermark, logStartOffset}`, a complete response body. */
  partition: 'partition',
  /** Only the records (each with topic and partition), for a group fetch that merges partitions. */
  group: 'group',
} as const
export type FetchFormat = (typeof FetchFormat)[keyof typeof FetchFormat]

export interface FetchRequest extends PartitionRef {
  op: 'fetch'
  offset: number
  maxRecords: number
  maxBytes: number
  format: FetchFormat
}

export interface FetchResult {
  /** MessagePack bytes: the whole body (partition format) or the records back to back (group format). */
  body: Buffer
  recordCount: number
  nextOffset: number
  highWatermark: number
  logStartOffset: number
  bytes: number
}

export interface ListOffsetRequest extends PartitionRef {
  op: 'listOffset'
  at: 'earliest' | 'latest' | number
}

// ---- replication (cluster mode; see src/replication/README.md) ----------------------------------

export const ReplicaRoles = { leader: 'leader', follower: 'follower' } as const
export type ReplicaRole = (typeof ReplicaRoles)[keyof typeof ReplicaRoles]

/** Makes the partition a leader (appends stamped with `leaderEpoch`) or a follower (verbatim appends only). */
export interface ReplicaStateRequest extends PartitionRef {
  op: 'replicaState'
  role: ReplicaRole
  leaderEpoch: number
}

/**
 * Bounds the high watermark. Leader: the lowest fetch offset of the in-sync followers (the HW is
 * min(durableOffset, bound) and never goes back). Follower: the leader's high watermark.
 */
export interface HighWatermarkRequest extends PartitionRef {
  op: 'highWatermark'
  bound: number
}

/** Leader: raw batches from `offset` up to the log end, for a follower. */
export interface ReplicaReadRequest extends PartitionRef {
  op: 'replicaRead'
  offset: number
  maxBytes: number
}

export interface ReplicaReadResult {
  /** Whole batches back to back, as they are on disk. */
  batches: Buffer
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
}

/** Follower: appends the leader's batches verbatim, fsyncs them, then takes the leader's high watermark. */
export interface ReplicaAppendRequest extends PartitionRef {
  op: 'replicaAppend'
  batches: Buffer
  leaderHighWatermark: number
  /** Segments wholly below it are deleted here: followers follow the leader's retention. */
  leaderLogStartOffset: number
}

export interface ReplicaAppendResult {
  /** Everything below it is fsynced on this replica: the follower's next fetch offset. */
  logEndOffset: number
  highWatermark: number
}

/**
 * Follower: drops the log from the batch holding `offset` on (divergence from the leader), or with
 * `fully` drops all of it and continues at `offset` (the leader's log start is past our log end).
 */
export interface TruncateRequest extends PartitionRef {
  op: 'truncate'
  offset: number
  fully?: boolean
}

/** The leader epoch cache: epoch → start offset (leader-epoch-checkpoint). */
export interface EpochsRequest extends PartitionRef {
  op: 'epochs'
}

export interface EpochsResult {
  entries: Array<{ epoch: number; startOffset: number }>
  logStartOffset: number
  logEndOffset: number
}

export interface StatsRequest {
  op: 'stats'
}

export interface RetentionRequest {
  op: 'retention'
  nowMs: number
}

export interface HostStats {
  partitions: number
  fsyncs: number
  fsyncSecondsTotal: number
  recordsFlushed: number
  appendBatches: number
  appendRecords: number
  appendBytes: number
  fetchRecords: number
  fetchBytes: number
  segmentsDeleted: number
  /** A histogram of fsync durations in seconds: bucket upper bounds and cumulative counts. */
  fsyncBuckets: number[]
  fsyncCounts: number[]
}

/** The stats of a host with no partitions and nothing counted yet. */
export function emptyHostStats(): HostStats {
  return {
    partitions: 0,
    fsyncs: 0,
    fsyncSecondsTotal: 0,
    recordsFlushed: 0,
    appendBatches: 0,
    appendRecords: 0,
    appendBytes: 0,
    fetchRecords: 0,
    fetchBytes: 0,
    segmentsDeleted: 0,
    fsyncBuckets: [],
    fsyncCounts: [],
  }
}

export type HostRequest =
  | OpenRequest
  | CloseRequest
  | AppendRequest
  | FetchRequest
  | ListOffsetRequest
  | StatsRequest
  | RetentionRequest
  | ReplicaStateRequest
  | HighWatermarkRequest
  | ReplicaReadRequest
  | ReplicaAppendRequest
  | TruncateRequest
  | EpochsRequest

/** The answer to each request type. */
export interface HostResponses {
  open: PartitionState
  close: undefined
  append: AppendResult
  fetch: FetchResult
  listOffset: { offset: number }
  stats: HostStats
  retention: { deletedSegments: number }
  replicaState: PartitionState
  highWatermark: PartitionState
  replicaRead: ReplicaReadResult
  replicaAppend: ReplicaAppendResult
  truncate: PartitionState
  epochs: EpochsResult
}

/** Events a host pushes to the HTTP thread (long polls wake on them). */
export type HostEvent = { type: 'state'; state: PartitionState }
