/**
 * The shapes of docs/http-api.md ("Routes") as the client sees them: what goes in a request and
 * what comes back.
 *
 * Kept apart from the broker's own types on purpose: the client is written against the wire
 * contract, not the server's internals, so it stays correct when the server is refactored.
 * Shapes the reference leaves open (group descriptions) are typed loosely with the fields it names.
 */

export type Acks = 0 | 1 | 'all'

/** What the broker achieved before it answered a produce (a receipt, not the policy asked for). */
export type Durability = 'none' | 'written' | 'fsynced' | 'replicated'

export type RecordHeaders = Record<string, string | Uint8Array>

/** A record to produce. `key` and `value` are any MessagePack value and come back as sent. */
export interface ProducerRecord<V = unknown, K = unknown> {
  key?: K
  value: V
  headers?: RecordHeaders
  /** Milliseconds since the epoch; the broker stamps the append time when absent. */
  timestamp?: number
  /** Explicit partition; otherwise a stable hash of `key`, else spread across partitions. */
  partition?: number
}

export interface RecordOffset {
  partition: number
  offset: number
}

export interface ProduceRequest {
  records: readonly ProducerRecord[]
  acks?: Acks
  producerId?: number
  sequence?: number
}

export interface ProduceResponse {
  offsets: RecordOffset[]
  durability: Durability
}

/** A record read from one partition. */
export interface FetchedRecord<V = unknown, K = unknown> {
  offset: number
  timestamp: number
  key: K
  value: V
  headers: RecordHeaders
}

/** A record delivered to a consumer: where it lives, and what it holds. */
export interface ConsumerRecord<V = unknown, K = unknown> extends FetchedRecord<V, K> {
  topic: string
  partition: number
}

export interface FetchOptions {
  offset: number
  maxRecords?: number
  maxBytes?: number
  /** Long poll: wait up to this long for a first record. */
  maxWaitMs?: number
  signal?: AbortSignal
}

export interface FetchResponse<V = unknown, K = unknown> {
  records: FetchedRecord<V, K>[]
  nextOffset: number
  highWatermark: number
  logStartOffset: number
}

/** `earliest`, `latest`, or a timestamp in milliseconds. */
export type OffsetSpec = 'earliest' | 'latest' | number

export interface TopicConfig {
  retentionMs?: number
  retentionBytes?: number
  segmentBytes?: number
  minInsyncReplicas?: number
  [name: string]: unknown
}

export interface CreateTopicRequest {
  name: string
  partitions?: number
  replicationFactor?: number
  config?: TopicConfig
}

export interface PartitionDescription {
  partition: number
  /** The leading broker's id (see `ClusterDescription`). */
  leader: number | string
  replicas: Array<number | string>
  isr: Array<number | string>
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  /** While a reassignment runs: the replicas joining, and those leaving once they are in sync. */
  addingReplicas?: number[]
  removingReplicas?: number[]
}

export interface TopicDescription {
  name: string
  partitions: PartitionDescription[]
  replicationFactor: number
  config: TopicConfig
}

export interface TopicPartition {
  topic: string
  partition: number
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: number
}

export interface JoinGroupRequest {
  topics: readonly string[]
  sessionTimeoutMs?: number
  autoCommit?: boolean
  /** Joining again after the group's coordinator changed: the partitions held, to get them back. */
  owned?: readonly TopicPartition[]
}

export interface JoinGroupResponse {
  memberId: string
  generation: number
  assignments: TopicPartition[]
}

export interface HeartbeatResponse {
  generation: number
  assignments: TopicPartition[]
  rebalancing: boolean
}

export interface GroupFetchOptions {
  maxRecords?: number
  maxBytes?: number
  maxWaitMs?: number
  /** Offsets to commit in the same round trip (the POST form). */
  commit?: readonly TopicPartitionOffset[]
  signal?: AbortSignal
}

export interface GroupFetchResponse<V = unknown, K = unknown> {
  generation: number
  records: ConsumerRecord<V, K>[]
}

export interface CommitRequest {
  memberId?: string
  generation?: number
  offsets: readonly TopicPartitionOffset[]
}

/** Where a member reads its own partitions next (the broker's member seek). */
export interface SeekRequest {
  generation?: number
  offsets: readonly TopicPartitionOffset[]
}

export interface GroupOffset extends TopicPartition {
  /** The next offset the group will read; absent or null when nothing was committed. */
  committed: number | null
  logEndOffset: number
  lag: number
}

export interface GroupMemberDescription {
  memberId: string
  assignments: TopicPartition[]
  [field: string]: unknown
}

export interface GroupDescription {
  group?: string
  name?: string
  state: string
  generation: number
  members: GroupMemberDescription[]
  lag?: number
  [field: string]: unknown
}

export interface GroupConfig {
  maxDeliveries?: number
  deadLetterTopic?: string
}

export type ExchangeType = 'direct' | 'topic' | 'fanout'

export interface CreateExchangeRequest {
  name: string
  type: ExchangeType
  alternateTopic?: string
}

export interface Binding {
  topic: string
  bindingKey?: string
}

export interface ExchangeDescription {
  name: string
  type: ExchangeType
  alternateTopic?: string
  bindings?: Binding[]
  [field: string]: unknown
}

export interface ExchangeRecord<V = unknown, K = unknown> {
  routingKey: string
  key?: K
  value: V
  headers?: RecordHeaders
}

export interface RoutedOffset extends TopicPartition {
  offset: number
}

export interface PublishResponse {
  results: Array<{ routed: RoutedOffset[] }>
}

export interface BrokerDescription {
  id: number | string
  url: string
  alive: boolean
}

export interface ClusterDescription {
  brokers: BrokerDescription[]
  controller: number | string | null
}

/** One partition's outcome of `POST /v1/cluster/preferred-leader-election`. */
export interface PreferredLeaderElection {
  topic: string
  partition: number
  /** The first replica of the assignment. */
  preferredLeader: number
  /** The leader when the election began. */
  leader: number
  moved: boolean
  /** Why leadership did not move. */
  reason?: string
}

/** One partition to move: `POST /v1/cluster/reassignments`. */
export interface PartitionReassignmentRequest {
  topic: string
  partition: number
  /** The new replica list; its first broker becomes the preferred leader. */
  replicas: number[]
}

/** A partition reassignment under way (or just started). */
export interface PartitionReassignment {
  topic: string
  partition: number
  /** Every broker holding the partition now: the target replicas, then those leaving. */
  replicas: number[]
  targetReplicas: number[]
  addingReplicas: number[]
  removingReplicas: number[]
  leader: number
  isr: number[]
  throttleBytesPerSec?: number
}

// ---- users, tokens and ACLs ------------------------------------------------------------------

export interface UserDescription {
  name: string
  superuser: boolean
  hasPassword: boolean
  tokens: Array<{ id: string; label: string; createdAt: number }>
}

export interface CreateUserRequest {
  name: string
  /** At least 8 characters; a user without one authenticates with tokens only. */
  password?: string
  superuser?: boolean
}

export interface CreatedToken {
  id: string
  label: string
  createdAt: number
  /** The bearer token, shown once. */
  token: string
}

export interface AclRule {
  id: string
  /** A user name, or `*` for every authenticated principal. */
  principal: string
  operation: 'read' | 'write' | 'create' | 'delete' | 'describe' | 'alter'
  resourceType: 'topic' | 'group' | 'exchange' | 'cluster'
  /** `literal` (the name; `*` is every name) or `prefix` (names starting with it). */
  patternType: 'literal' | 'prefix'
  name: string
}
