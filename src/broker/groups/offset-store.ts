/**
 * Committed offsets and group configs, kept in the broker's own log and in memory.
 *
 * On disk they are records of the internal topic `__consumer_offsets` (written through the normal
 * produce path with acks "all", so a commit is answered only once it is fsynced, and it will
 * replicate like any partition). All records of one group go to one partition (a hash of the group
 * name), so their log order is the order they were written in. Three kinds of record:
 *
 *   key {group, topic, partition}   value {offset, timestamp}           a committed offset
 *   key {group}                     value {maxDeliveries?, deadLetterTopic?, offsetReset?, timestamp}
 *                                                                         the group's config
 *   key {group, topic, partition, kind: 'deliveries'}
 *                                   value {ranges: [from, to, …], timestamp}
 *                                         the partition's delivery counts (delivery-counts.ts), so a
 *                                         new coordinator continues them; a broker that predates
 *                                         them skips these (no `offset` in the value)
 *
 * A null value is a tombstone: the key is gone (a deleted topic drops its offsets this way).
 *
 * Load is compaction: the whole topic is read once at start and only the last value of each key is
 * kept (`compactRecords`). The files themselves are not compacted yet; the topic's retention is -1
 * so nothing is ever lost, and it grows by one small record per commit.
 *
 * The in-memory view is updated only after a write is durable. Writes of one group land in the log
 * in the order they were issued (one partition, one writer), and each key remembers the sequence of
 * the write it shows, so a slower earlier write can never overwrite a later one in memory.
 */
import { StrataError } from '../../errors.js'
import { wirePackr } from '../../wire/record-codec.js'
import { partitionForKey } from '../partition-placement.js'
import { type TopicPartitionRef, tpKey } from './assignors.js'
import type { DeliveryRange } from './delivery-counts.js'

/** A partition changing hands at start is retried every 250 ms for up to 15 s. */
const LOAD_ATTEMPTS = 60
const LOAD_RETRY_MS = 250

export const OFFSETS_TOPIC = '__consumer_offsets'
/** Enough partitions to spread many groups' commits over several writers; few enough to open fast. */
export const OFFSETS_TOPIC_PARTITIONS = 8

export const OffsetResetPolicies = { earliest: 'earliest', latest: 'latest' } as const
export type OffsetResetPolicy = (typeof OffsetResetPolicies)[keyof typeof OffsetResetPolicies]

export interface GroupConfig {
  maxDeliveries?: number
  deadLetterTopic?: string
  offsetReset?: OffsetResetPolicy
}

export interface CommittedOffset extends TopicPartitionRef {
  offset: number
  timestamp: number
}

export interface OffsetLogRecord {
  key: unknown
  value: unknown
}

/** The log the store lives in (the internal topic); a fake one in unit tests. */
export interface OffsetLog {
  partitions(): number
  /** Appends to one partition and resolves once the records are durable. */
  append(partition: number, records: OffsetLogRecord[]): Promise<void>
  /** Every record of a partition, oldest first. */
  readAll(partition: number): AsyncIterable<OffsetLogRecord>
}

interface OffsetKey {
  group: string
  topic: string
  partition: number
}

type ParsedRecord =
  | { kind: 'offset'; key: OffsetKey; value: { offset: number; timestamp: number } | null }
  | { kind: 'config'; group: string; value: GroupConfig | null }
  | { kind: 'deliveries'; key: OffsetKey; value: DeliveryRange[] | null }

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Reads one record of the internal topic; anything unrecognised is skipped (written by a newer broker). */
export function parseOffsetRecord(record: OffsetLogRecord): ParsedRecord | undefined {
  const { key, value } = record
  if (!isObject(key) || typeof key.group !== 'string') return undefined
  if (Object.keys(key).length === 1) {
    if (value === null) return { kind: 'config', group: key.group, value: null }
    if (!isObject(value)) return undefined
    return { kind: 'config', group: key.group, value: pickConfig(value) }
  }
  if (typeof key.topic !== 'string' || !isOffset(key.partition)) return undefined
  const k = { group: key.group, topic: key.topic, partition: key.partition }
  if (key.kind === 'deliveries') {
    if (value === null) return { kind: 'deliveries', key: k, value: null }
    const ranges = isObject(value) ? parseRanges(value.ranges) : undefined
    return ranges && { kind: 'deliveries', key: k, value: ranges }
  }
  if (key.kind !== undefined) return undefined
  if (value === null) return { kind: 'offset', key: k, value: null }
  if (!isObject(value) || !isOffset(value.offset)) return undefined
  const timestamp = isOffset(value.timestamp) ? value.timestamp : 0
  return { kind: 'offset', key: k, value: { offset: value.offset, timestamp } }
}

function pickConfig(value: Record<string, unknown>): GroupConfig {
  const config: GroupConfig = {}
  if (isOffset(value.maxDeliveries) && value.maxDeliveries > 0) config.maxDeliveries = value.maxDeliveries
  if (typeof value.deadLetterTopic === 'string') config.deadLetterTopic = value.deadLetterTopic
  if (value.offsetReset === 'earliest' || value.offsetReset === 'latest')
    config.offsetReset = value.offsetReset
  return config
}

/** `[from, to, from, to, …]`, each run non-empty. */
function parseRanges(flat: unknown): DeliveryRange[] | undefined {
  if (!Array.isArray(flat) || flat.length % 2 !== 0) return undefined
  const ranges: DeliveryRange[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const from: unknown = flat[i]
    const to: unknown = flat[i + 1]
    if (!isOffset(from) || !isOffset(to) || to <= from) return undefined
    ranges.push({ from, to })
  }
  return ranges
}

function recordIdentity(parsed: ParsedRecord): string {
  if (parsed.kind === 'config') return `c\u0000${parsed.group}`
  const prefix = parsed.kind === 'offset' ? 'o' : 'd'
  return `${prefix}\u0000${parsed.key.group}\u0000${tpKey(parsed.key)}`
}

/**
 * Compaction: the last record of each key, tombstoned keys dropped, in the order of their last
 * write. What load keeps in memory, and what an on-disk cleaner would keep in the files.
 */
export function compactRecords(records: Iterable<OffsetLogRecord>): OffsetLogRecord[] {
  const last = new Map<string, { record: OffsetLogRecord; tombstone: boolean }>()
  for (const record of records) {
    const parsed = parseOffsetRecord(record)
    if (!parsed) continue
    const id = recordIdentity(parsed)
    // Delete then set, so the map's order is the order of each key's last write.
    last.delete(id)
    last.set(id, { record, tombstone: parsed.value === null })
  }
  return [...last.values()].filter((e) => !e.tombstone).map((e) => e.record)
}

interface GroupEntry {
  offsets: Map<string, CommittedOffset & { seq: number }>
  config: GroupConfig
  configSeq: number
  deliveries: Map<string, { ranges: DeliveryRange[]; seq: number }>
}

export class OffsetStore {
  readonly #log: OffsetLog
  readonly #groups = new Map<string, GroupEntry>()
  #seq = 0
  #loading: Promise<void> = Promise.resolve()

  constructor(log: OffsetLog) {
    this.#log = log
  }

  /** Reads the whole log, keeping the last value of every key. */
  load(): Promise<void> {
    return this.#oneLoadAtATime(() => this.#loadAll())
  }

  /**
   * Loads run one after another: a partition taken over while the start-up load still reads
   * (a coordinator moving here as the broker starts) must not have its full reload overwritten by
   * the start-up load's older view of it, which would move committed offsets back.
   */
  #oneLoadAtATime(load: () => Promise<void>): Promise<void> {
    const run = this.#loading.then(load, load)
    this.#loading = run.catch(() => undefined)
    return run
  }

  async #loadAll(): Promise<void> {
    this.#groups.clear()
    for (let p = 0; p < this.#log.partitions(); p++) {
      const all = await this.#readPartition(p)
      for (const record of compactRecords(all)) this.#apply(parseOffsetRecord(record)!, ++this.#seq)
    }
  }

  /**
   * One partition's records. In a cluster a partition may be changing hands while the broker starts
   * (a preferred-leader election moving it here, say): a retriable refusal is retried for a while
   * instead of failing the start.
   */
  async #readPartition(partition: number): Promise<OffsetLogRecord[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const all: OffsetLogRecord[] = []
        for await (const record of this.#log.readAll(partition)) all.push(record)
        return all
      } catch (err) {
        if (!(err instanceof StrataError && err.retriable) || attempt >= LOAD_ATTEMPTS) throw err
        await new Promise((resolve) => setTimeout(resolve, LOAD_RETRY_MS))
      }
    }
  }

  /**
   * Cluster mode: re-reads one partition (its leadership, and so its groups, moved here), replacing
   * what memory held for its groups.
   */
  loadPartition(partition: number): Promise<void> {
    return this.#oneLoadAtATime(() => this.#loadOne(partition))
  }

  async #loadOne(partition: number): Promise<void> {
    const all = await this.#readPartition(partition)
    for (const group of [...this.#groups.keys()]) {
      if (this.partitionOf(group) === partition) this.#groups.delete(group)
    }
    for (const record of compactRecords(all)) this.#apply(parseOffsetRecord(record)!, ++this.#seq)
  }

  /** The partition of the internal topic that holds a group's records. */
  partitionOf(group: string): number {
    return partitionForKey(wirePackr.pack(group), this.#log.partitions())
  }

  groups(): string[] {
    return [...this.#groups.keys()]
  }

  has(group: string): boolean {
    return this.#groups.has(group)
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.#groups.get(group)?.offsets.get(tpKey({ topic, partition }))?.offset
  }

  /** Every committed offset of a group, sorted by topic then partition. */
  offsets(group: string): CommittedOffset[] {
    const entry = this.#groups.get(group)
    if (!entry) return []
    return [...entry.offsets.values()]
      .map(({ topic, partition, offset, timestamp }) => ({ topic, partition, offset, timestamp }))
      .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
  }

  config(group: string): GroupConfig {
    return { ...this.#groups.get(group)?.config }
  }

  /** The delivery counts of a group partition as last persisted (runs oldest first), if any. */
  deliveries(group: string, tp: TopicPartitionRef): DeliveryRange[] | undefined {
    return this.#groups
      .get(group)
      ?.deliveries.get(tpKey(tp))
      ?.ranges.map((r) => ({ ...r }))
  }

  /** Persists a group partition's delivery counts; none left tombstones what was stored. */
  async saveDeliveries(
    group: string,
    tp: TopicPartitionRef,
    ranges: readonly DeliveryRange[],
  ): Promise<void> {
    const key = { group, topic: tp.topic, partition: tp.partition, kind: 'deliveries' }
    if (ranges.length === 0) {
      if (this.#groups.get(group)?.deliveries.has(tpKey(tp))) await this.#write(group, [{ key, value: null }])
      return
    }
    const flat = ranges.flatMap((r) => [r.from, r.to])
    await this.#write(group, [{ key, value: { ranges: flat, timestamp: Date.now() } }])
  }

  /** Writes the offsets durably, then shows them. */
  async commit(group: string, offsets: ReadonlyArray<TopicPartitionRef & { offset: number }>): Promise<void> {
    if (offsets.length === 0) return
    const timestamp = Date.now()
    const records = offsets.map((o) => ({
      key: { group, topic: o.topic, partition: o.partition },
      value: { offset: o.offset, timestamp },
    }))
    await this.#write(group, records)
  }

  async setConfig(group: string, config: GroupConfig): Promise<void> {
    await this.#write(group, [{ key: { group }, value: { ...config, timestamp: Date.now() } }])
  }

  /** Tombstones every committed offset and delivery count on `topic` (the topic was deleted). */
  async dropTopic(topic: string): Promise<void> {
    const writes: Promise<void>[] = []
    for (const [group, entry] of this.#groups) {
      const records: OffsetLogRecord[] = [...entry.offsets.values()]
        .filter((o) => o.topic === topic)
        .map((o) => ({ key: { group, topic, partition: o.partition }, value: null }))
      for (const [key, counts] of entry.deliveries) {
        const partition = Number(key.slice(key.lastIndexOf('\u0000') + 1))
        if (key === tpKey({ topic, partition }) && counts.ranges.length > 0)
          records.push({ key: { group, topic, partition, kind: 'deliveries' }, value: null })
      }
      if (records.length > 0) writes.push(this.#write(group, records))
    }
    await Promise.all(writes)
  }

  async #write(group: string, records: OffsetLogRecord[]): Promise<void> {
    const seq = ++this.#seq
    await this.#log.append(this.partitionOf(group), records)
    for (const record of records) this.#apply(parseOffsetRecord(record)!, seq)
  }

  #apply(parsed: ParsedRecord, seq: number): void {
    const groupName = parsed.kind === 'config' ? parsed.group : parsed.key.group
    const entry = this.#groups.get(groupName) ?? {
      offsets: new Map(),
      config: {},
      configSeq: 0,
      deliveries: new Map(),
    }
    if (!this.#groups.has(groupName)) {
      if (parsed.value === null) return
      this.#groups.set(groupName, entry)
    }
    if (parsed.kind === 'config') {
      if (seq < entry.configSeq) return
      entry.config = parsed.value ?? {}
      entry.configSeq = seq
    } else if (parsed.kind === 'deliveries') {
      const key = tpKey(parsed.key)
      const existing = entry.deliveries.get(key)
      if (existing && existing.seq > seq) return
      if (parsed.value === null) entry.deliveries.delete(key)
      else entry.deliveries.set(key, { ranges: parsed.value, seq })
    } else {
      const key = tpKey(parsed.key)
      const existing = entry.offsets.get(key)
      if (existing && existing.seq > seq) return
      if (parsed.value === null) entry.offsets.delete(key)
      else
        entry.offsets.set(key, {
          topic: parsed.key.topic,
          partition: parsed.key.partition,
          ...parsed.value,
          seq,
        })
    }
    if (entry.offsets.size === 0 && entry.deliveries.size === 0 && Object.keys(entry.config).length === 0)
      this.#groups.delete(groupName)
  }
}
