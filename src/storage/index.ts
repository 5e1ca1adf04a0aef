/**
 * Public API of storage/: the partition log, the record batch codec and the leader epoch cache.
 *
 * On disk, invariants, thread and crash behaviour: see README.md and partition-log.ts. Everything
 * else in this folder is internal and may change without notice.
 */
export {
  divergenceStep,
  type EpochEndOffset,
  endOffsetForEpoch,
  LeaderEpochCache,
} from './leader-epoch-cache.js'
export {
  type AppendInfo,
  DEFAULT_MAX_OPEN_SEGMENTS,
  type FlushStats,
  type LogConfig,
  MAX_SEGMENT_BYTES,
  PartitionLog,
  type PartitionLogOptions,
} from './partition-log.js'
export {
  BATCH_HEADER_SIZE,
  type BatchCheck,
  type BatchHeader,
  type BatchInput,
  type BatchProblem,
  BatchProblems,
  batchCrc,
  batchLastOffset,
  batchSize,
  buildBatch,
  CURRENT_MAGIC,
  checkBatchStructure,
  LOG_OVERHEAD,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  RECORDS_OFFSET,
  type RecordSlice,
  readBatchHeader,
  recordSlices,
  validateBatch,
  writeBatchHeader,
} from './record-batch.js'
export { type RetentionPolicy, type RetentionSegment, segmentsToDelete } from './retention.js'
export { fsyncDirSync } from './segment-files.js'
