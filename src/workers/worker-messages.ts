/**
 * The messages between the HTTP thread and the threads that own partitions.
 *
 * The same requests are served by a `PartitionHost` in the main thread (`--workers 0`) or in a
 * partition worker (piscina), so everything here must survive structured cloning: plain objects,
 * numbers, strings and Buffers (which the router transfers rather than copies).
 */

export type Acks = 0 | 1 | 'all'

/** Durability actually reached before an answer (API.md's receipt). */
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
}

export interface OpenRequest extends PartitionRef {
  op: 'open'
  dir: string
  settings: PartitionLogSettings
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

export type HostRequest =
  | OpenRequest
  | CloseRequest
  | AppendRequest
  | FetchRequest
  | ListOffsetRequest
  | StatsRequest
  | RetentionRequest

/** The answer to each request type. */
export interface HostResponses {
  open: PartitionState
  close: undefined
  append: AppendResult
  fetch: FetchResult
  listOffset: { offset: number }
  stats: HostStats
  retention: { deletedSegments: number }
}

/** Events a host pushes to the HTTP thread (long polls wake on them). */
export type HostEvent = { type: 'state'; state: PartitionState }
