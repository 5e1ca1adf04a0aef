/** Consumer groups: the coordinator the server wires in, and what tests and tools need around it. */
export {
  type Assignment,
  type AssignorMember,
  assignPartitions,
  type TopicPartitionRef,
  tpKey,
} from './assignors.js'
export { DeliveryCounts } from './delivery-counts.js'
export {
  type CommitRequest,
  GroupCoordinator,
  type GroupCoordinatorOptions,
  type GroupDescription,
  type GroupFetchRequest,
  type GroupOffsetDescription,
  type JoinRequest,
} from './group-coordinator.js'
export { DeadLetterHeaders, encodeGroupFetch, type GroupLogger } from './group-fetch.js'
export { type GroupState, GroupStates } from './group-state.js'
export { BrokerOffsetLog } from './offset-log.js'
export {
  compactRecords,
  type GroupConfig,
  OFFSETS_TOPIC,
  OFFSETS_TOPIC_PARTITIONS,
  type OffsetLog,
  type OffsetLogRecord,
  OffsetStore,
  parseOffsetRecord,
} from './offset-store.js'
