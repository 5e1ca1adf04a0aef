/**
 * What a Strata cluster keeps in etcd, under one root, and the JSON of each key.
 *
 *     /strata/brokers/<id>            {id, url, partitionBudget?}       on the broker's lease: alive
 *     /strata/members/<id>            {id, url, partitionBudget?}       no lease: known, perhaps dead
 *     /strata/controller              {id}                              on the controller's lease
 *     /strata/topics/<name>           {name, partitions, replicationFactor, config, createdAt,
 *                                      assignment: [[replica ids of partition 0], …]}
 *     /strata/partitions/<name>/<p>   {leader, leaderEpoch, isr,        changed only by compare-and-swap
 *                                      replicas?, addingReplicas?, removingReplicas?,
 *                                      previousReplicas?, throttleBytesPerSec?}
 *     /strata/exchanges/<name>        an exchange and its bindings      (cluster/etcd-exchange-backend.ts)
 *     /strata/creating/<name>         {name}                            on the creating broker's lease
 *
 * A topic's partition keys are written first, in chunks (etcd takes at most 128 operations in a
 * transaction), and its topic key last; brokers act on a topic only once its topic key exists
 * (cluster/topic-creation.ts). A topic and its partition keys are deleted in one transaction. A partition record changes only by a transaction that compares its mod
 * revision, so two writers (the controller electing, the leader shrinking or growing the ISR) never
 * overwrite each other: the loser re-reads and decides again.
 *
 * A partition's replicas are the topic's `assignment[p]` until a reassignment first moves them; from
 * then on the partition record's `replicas` says (Kafka's PartitionRecord). While a reassignment
 * runs, `replicas` is the target followed by the replicas leaving, `addingReplicas` the ones joining
 * and `removingReplicas` the ones leaving (cluster/reassignment.ts). Every writer of a partition
 * record copies the fields it does not change, so an ISR change never drops a reassignment.
 */
import type { TopicConfig, TopicMetadata } from '../broker/topic-registry.js'

export const ROOT = '/strata/'
/** The leader of a partition with no live in-sync replica. */
export const NO_LEADER = -1

export const ClusterKeys = {
  root: ROOT,
  brokers: `${ROOT}brokers/`,
  broker: (id: number) => `${ROOT}brokers/${id}`,
  members: `${ROOT}members/`,
  member: (id: number) => `${ROOT}members/${id}`,
  controller: `${ROOT}controller`,
  topics: `${ROOT}topics/`,
  topic: (name: string) => `${ROOT}topics/${name}`,
  /** A create of this topic name in progress (cluster/topic-creation.ts). */
  creating: (name: string) => `${ROOT}creating/${name}`,
  partitions: `${ROOT}partitions/`,
  partitionsOf: (topic: string) => `${ROOT}partitions/${topic}/`,
  partition: (topic: string, partition: number) => `${ROOT}partitions/${topic}/${partition}`,
} as const

export interface BrokerRecord {
  id: number
  url: string
  /** Most partitions the broker can hold open (absent: unbounded); cluster/partition-budgets.ts. */
  partitionBudget?: number
}

/** A topic as etcd holds it: the local metadata plus which brokers replicate each partition. */
export interface ClusterTopic extends TopicMetadata {
  assignment: number[][]
}

export interface PartitionRecord {
  leader: number
  leaderEpoch: number
  isr: number[]
  /** The replicas, once a reassignment moved them away from the topic's assignment. */
  replicas?: number[]
  /** A reassignment runs: replicas catching up, that join the replica set when it completes. */
  addingReplicas?: number[]
  /** A reassignment runs: replicas that leave the replica set when it completes. */
  removingReplicas?: number[]
  /** A reassignment runs: the replicas before it, in their order (what a cancel restores). */
  previousReplicas?: number[]
  /** A reassignment runs: the joining replicas fetch at most this many bytes per second. */
  throttleBytesPerSec?: number
}

/** A key the way the cluster view keys it, from a full etcd key (or undefined if it is not ours). */
export type ParsedKey =
  | { kind: 'broker'; id: number }
  | { kind: 'member'; id: number }
  | { kind: 'controller' }
  | { kind: 'topic'; name: string }
  | { kind: 'partition'; topic: string; partition: number }

export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(ROOT)) return undefined
  const rest = key.slice(ROOT.length)
  if (rest === 'controller') return { kind: 'controller' }
  const parts = rest.split('/')
  const [kind, a, b] = parts
  if (kind === 'brokers' && parts.length === 2 && isId(a)) return { kind: 'broker', id: Number(a) }
  if (kind === 'members' && parts.length === 2 && isId(a)) return { kind: 'member', id: Number(a) }
  if (kind === 'topics' && parts.length === 2 && a) return { kind: 'topic', name: a }
  if (kind === 'partitions' && parts.length === 3 && a && isId(b))
    return { kind: 'partition', topic: a, partition: Number(b) }
  return undefined
}

const isId = (s: string | undefined): s is string => s !== undefined && /^\d{1,9}$/.test(s)
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const isIdList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => isInt(x) && x >= 0)
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export function parseBrokerRecord(text: string): BrokerRecord | undefined {
  const v = parseJson(text)
  if (!isObject(v) || !isInt(v.id) || typeof v.url !== 'string') return undefined
  const record: BrokerRecord = { id: v.id, url: v.url }
  if (isInt(v.partitionBudget) && v.partitionBudget >= 0) record.partitionBudget = v.partitionBudget
  return record
}

export function parseTopicRecord(text: string): ClusterTopic | undefined {
  const v = parseJson(text)
  if (!isObject(v) || typeof v.name !== 'string' || !isInt(v.partitions) || !isInt(v.replicationFactor))
    return undefined
  if (!Array.isArray(v.assignment) || v.assignment.length !== v.partitions || !v.assignment.every(isIdList))
    return undefined
  return {
    name: v.name,
    partitions: v.partitions,
    replicationFactor: v.replicationFactor,
    config: (isObject(v.config) ? v.config : {}) as TopicConfig,
    createdAt: isInt(v.createdAt) ? v.createdAt : 0,
    assignment: v.assignment as number[][],
  }
}

export function parsePartitionRecord(text: string): PartitionRecord | undefined {
  const v = parseJson(text)
  if (!isObject(v) || !isInt(v.leader) || !isInt(v.leaderEpoch) || !isIdList(v.isr)) return undefined
  const record: PartitionRecord = { leader: v.leader, leaderEpoch: v.leaderEpoch, isr: v.isr }
  if (isIdList(v.replicas) && v.replicas.length > 0) record.replicas = v.replicas
  if (isIdList(v.addingReplicas)) record.addingReplicas = v.addingReplicas
  if (isIdList(v.removingReplicas)) record.removingReplicas = v.removingReplicas
  if (isIdList(v.previousReplicas) && v.previousReplicas.length > 0)
    record.previousReplicas = v.previousReplicas
  if (isInt(v.throttleBytesPerSec) && v.throttleBytesPerSec > 0)
    record.throttleBytesPerSec = v.throttleBytesPerSec
  return record
}

/** The replicas of partition `partition`: its record's, once a reassignment set them, else the topic's. */
export function replicasOf(
  topic: ClusterTopic,
  partition: number,
  record: PartitionRecord | undefined,
): number[] {
  return record?.replicas ?? topic.assignment[partition] ?? []
}

/** A reassignment of this partition is under way. */
export function isReassigning(record: PartitionRecord): boolean {
  return record.addingReplicas !== undefined || record.removingReplicas !== undefined
}

export function parseControllerRecord(text: string): number | undefined {
  const v = parseJson(text)
  return isObject(v) && isInt(v.id) ? v.id : undefined
}

/** The minimum in-sync replicas for acks=all: the topic's setting, else min(2, replicationFactor). */
export function minInsyncReplicas(topic: TopicMetadata): number {
  return topic.config.minInsyncReplicas ?? Math.min(2, topic.replicationFactor)
}
