/**
 * This broker's copy of the cluster metadata in etcd: live brokers, known members, the controller,
 * topics with their replica assignment, and each partition's leader, epoch and ISR with the mod
 * revision a compare-and-swap must name.
 *
 * It is loaded from one snapshot (a range read at revision R) and then moved forward by the watch
 * from R + 1; an event older than what a key already shows is ignored, so a snapshot taken after a
 * reconnect and the tail of the old watch can overlap safely. Main thread only.
 */
import { partitionKey } from '../workers/partition-host.js'
import {
  type BrokerRecord,
  type ClusterTopic,
  type PartitionRecord,
  parseBrokerRecord,
  parseControllerRecord,
  parseKey,
  parsePartitionRecord,
  parseTopicRecord,
} from './cluster-records.js'

export interface Versioned<T> {
  value: T
  modRevision: number
}

export interface KeyChange {
  type: 'put' | 'delete'
  key: string
  value: string
  modRevision: number
  /** The revision the key was created at (for a broker key: when it registered). */
  createRevision: number
}

export class ClusterView {
  /** Brokers whose lease is alive. */
  readonly brokers = new Map<number, BrokerRecord>()
  /** Every broker that ever joined (its URL stays known while it is down). */
  readonly members = new Map<number, BrokerRecord>()
  /** When each live broker registered (the create revision of its key): later records know it. */
  readonly registrations = new Map<number, number>()
  readonly topics = new Map<string, Versioned<ClusterTopic>>()
  readonly partitions = new Map<string, Versioned<PartitionRecord>>()
  controller: number | undefined
  /** The highest revision applied (snapshot or event). */
  revision = 0
  /** Per key, the mod revision of what we show (or of its deletion), so replays are ignored. */
  readonly #seen = new Map<string, number>()

  /** Replaces everything with a snapshot taken at `revision`. */
  load(snapshot: ReadonlyArray<Omit<KeyChange, 'type'>>, revision: number): void {
    this.brokers.clear()
    this.registrations.clear()
    this.members.clear()
    this.topics.clear()
    this.partitions.clear()
    this.controller = undefined
    this.#seen.clear()
    for (const kv of snapshot) this.apply({ type: 'put', ...kv })
    this.revision = Math.max(this.revision, revision)
  }

  /** Applies one watch event; returns false when it is older than what the key shows. */
  apply(change: KeyChange): boolean {
    const seen = this.#seen.get(change.key)
    if (seen !== undefined && change.modRevision <= seen) return false
    this.#seen.set(change.key, change.modRevision)
    if (change.modRevision > this.revision) this.revision = change.modRevision
    const parsed = parseKey(change.key)
    if (parsed === undefined) return false
    const put = change.type === 'put'
    switch (parsed.kind) {
      case 'broker':
        setOrDelete(this.registrations, parsed.id, put ? change.createRevision : undefined)
        return setOrDelete(this.brokers, parsed.id, put ? parseBrokerRecord(change.value) : undefined)
      case 'member':
        return setOrDelete(this.members, parsed.id, put ? parseBrokerRecord(change.value) : undefined)
      case 'controller':
        this.controller = put ? parseControllerRecord(change.value) : undefined
        return true
      case 'topic': {
        const topic = put ? parseTopicRecord(change.value) : undefined
        return setOrDelete(
          this.topics,
          parsed.name,
          topic && { value: topic, modRevision: change.modRevision },
        )
      }
      case 'partition': {
        const record = put ? parsePartitionRecord(change.value) : undefined
        return setOrDelete(
          this.partitions,
          partitionKey(parsed.topic, parsed.partition),
          record && { value: record, modRevision: change.modRevision },
        )
      }
    }
  }

  partition(topic: string, partition: number): Versioned<PartitionRecord> | undefined {
    return this.partitions.get(partitionKey(topic, partition))
  }

  /** The URL of a broker, alive or last known. */
  urlOf(id: number): string | undefined {
    return this.brokers.get(id)?.url ?? this.members.get(id)?.url
  }

  liveIds(): Set<number> {
    return new Set(this.brokers.keys())
  }
}

function setOrDelete<K, V>(map: Map<K, V>, key: K, value: V | undefined): boolean {
  if (value === undefined) return map.delete(key)
  map.set(key, value)
  return true
}
