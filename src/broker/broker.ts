/**
 * The broker's core: topics, produce and fetch, on top of the partition owners.
 *
 * Runs in the HTTP (main) thread. It validates nothing the edge already validated; it decides
 * placement, builds one record batch per partition, sends it to the partition's owner through
 * the router, and answers with offsets once the requested durability is reached (publisher
 * confirms). It mirrors every partition's offsets from the owners' state events, so long polls
 * wait here without asking the owners.
 */
import { rm } from 'node:fs/promises'
import type { BrokerConfig } from '../config/schema.js'
import {
  InvalidConfigError,
  InvalidRequestError,
  InvalidTopicNameError,
  NotReadyError,
  PartitionLimitReachedError,
  PartitionNotFoundError,
  PartitionOfflineError,
  PayloadTooLargeError,
} from '../errors.js'
import { BATCH_HEADER_SIZE, buildBatch } from '../storage/index.js'
import { encodeKey, encodeRecordBody, type RecordInput, wirePackr } from '../wire/record-codec.js'
import { partitionKey } from '../workers/partition-host.js'
import type {
  Acks,
  AppendResult,
  Durability,
  FetchFormat,
  FetchResult,
  PartitionLogSettings,
  PartitionState,
} from '../workers/worker-messages.js'
import type { PartitionRouter } from '../workers/worker-router.js'
import { FetchBudget, type FetchBudgetHold } from './fetch-budget.js'
import { type PartitionBudget, partitionBudget } from './partition-budget.js'
import { partitionForKey, StickyPartitioner } from './partition-placement.js'
import { PartitionWaiters } from './partition-waiters.js'
import {
  checkTopicName,
  INTERNAL_PREFIX,
  type TopicConfig,
  type TopicMetadata,
  TopicRegistry,
} from './topic-registry.js'

export interface ProduceRecord extends RecordInput {
  partition?: number | undefined
}

export interface ProduceOptions {
  acks: Acks
  producerId?: number | undefined
  sequence?: number | undefined
  /**
   * All records to this partition (the partition route). The request's `sequence` is then that
   * partition's own count, so the log also refuses a sequence that skips past the producer's next
   * one (OUT_OF_ORDER_SEQUENCE); without it (the topic route) `sequence + index` spreads over the
   * partitions and needs only to grow.
   */
  partition?: number | undefined
  /**
   * The broker's own writes that acknowledge consumption (committed offsets, dead letters). They
   * pass the memory and disk alarms, as RabbitMQ lets consumers ack during an alarm: blocking
   * acks would only make the backlog, and memory, grow.
   */
  internal?: boolean | undefined
  /** The records already encoded by the caller (a publish encodes each once for all its topics). */
  encoded?: EncodedRecords | undefined
}

/** Records as the log stores them, one key and one body per record, in the records' order. */
export interface EncodedRecords {
  keys: readonly Buffer[]
  bodies: readonly Buffer[]
}

export interface ProduceResult {
  offsets: Array<{ partition: number; offset: number }>
  durability: Durability
}

export interface FetchOptions {
  offset: number
  maxRecords: number
  maxBytes: number
  maxWaitMs: number
  signal?: AbortSignal | undefined
  /** The request's share of the fetch budget: it holds the read's byte limit before reading. */
  budget?: FetchBudgetHold | undefined
}

export interface PartitionDescription {
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  offline?: string
  /** A reassignment runs (cluster mode): replicas joining, and replicas leaving once they are in sync. */
  addingReplicas?: number[]
  removingReplicas?: number[]
}

export interface TopicDescription {
  name: string
  partitions: PartitionDescription[]
  replicationFactor: number
  config: TopicConfig
}

/** A gate produce passes before writing: backpressure alarms plug in here. */
export type ProduceAdmission = (topic: string, partition: number, bytes: number) => void

export interface CreateTopicInput {
  name: string
  partitions?: number | undefined
  replicationFactor?: number | undefined
  config?: TopicConfig | undefined
  internal?: boolean
}

/** Who replicates a partition, from the cluster metadata. */
export type ClusterPartition = Pick<
  PartitionDescription,
  'leader' | 'replicas' | 'isr' | 'addingReplicas' | 'removingReplicas'
>

/**
 * Cluster mode (src/cluster, --etcd): topic metadata, leadership and replication live in etcd and
 * the replication manager. Absent on a single broker, where this broker leads everything.
 */
export interface BrokerCluster {
  /** Only the partitions this broker replicates are opened here. */
  replicates(topic: string, partition: number): boolean
  /** Writes the topic to etcd; resolves once this broker has applied it. */
  createTopic(input: CreateTopicInput): Promise<void>
  deleteTopic(name: string): Promise<void>
  describePartition(topic: string, partition: number): ClusterPartition
  /** Throws NOT_LEADER unless this broker leads the partition; NOT_ENOUGH_REPLICAS for acks=all. */
  checkProduce(topic: string, partition: number, acks: Acks): void
  /** acks=all: resolves once the high watermark passed `lastOffset`, with the durability reached. */
  awaitReplication(
    topic: string,
    partition: number,
    lastOffset: number,
    acks: Acks,
  ): Promise<Durability | undefined>
  /** Throws NOT_LEADER unless this broker may serve reads of the partition. */
  checkFetch(topic: string, partition: number, format: FetchFormat): void
}

/** Sequences are int32 in the batch header (Kafka's); a request's last one must fit. */
const MAX_SEQUENCE = 2 ** 31 - 1

const DURABILITY_RANK: Record<Durability, number> = { none: 0, written: 1, fsynced: 2, replicated: 3 }

export class Broker {
  readonly config: BrokerConfig
  readonly topics: TopicRegistry
  readonly router: PartitionRouter
  readonly waiters = new PartitionWaiters()
  /** How many partitions this broker can keep open (partition-budget.ts). */
  readonly partitionBudget: PartitionBudget
  readonly fetchBudget: FetchBudget
  readonly #states = new Map<string, PartitionState>()
  readonly #sticky = new StickyPartitioner()
  readonly #stateListeners: Array<(state: PartitionState) => void> = []
  readonly #topicDeletedListeners: Array<(topic: string) => Promise<void> | void> = []
  #admission: ProduceAdmission | undefined
  #cluster: BrokerCluster | undefined
  #ready = false
  #closed = false

  constructor(config: BrokerConfig, router: PartitionRouter) {
    this.config = config
    this.router = router
    this.topics = new TopicRegistry(config.dataDir)
    this.partitionBudget = partitionBudget(config.maxPartitions)
    this.fetchBudget = new FetchBudget(config.maxInflightFetchBytes)
    router.onEvent((event) => {
      if (event.type === 'state') this.#updateState(event.state)
    })
  }

  get ready(): boolean {
    return this.#ready && !this.#closed
  }

  setProduceAdmission(admission: ProduceAdmission): void {
    this.#admission = admission
  }

  /** Cluster mode: set before start(). */
  setCluster(cluster: BrokerCluster): void {
    this.#cluster = cluster
  }

  get cluster(): BrokerCluster | undefined {
    return this.#cluster
  }

  onPartitionState(listener: (state: PartitionState) => void): void {
    this.#stateListeners.push(listener)
  }

  /** Called after a topic is deleted: exchanges drop its bindings, groups its committed offsets. */
  onTopicDeleted(listener: (topic: string) => Promise<void> | void): void {
    this.#topicDeletedListeners.push(listener)
  }

  /** Loads topics and recovers every partition; `/readyz` turns 200 when this resolves. */
  async start(opts: { warn?: (details: object, message: string) => void } = {}): Promise<void> {
    const topics = await this.topics.load(opts.warn)
    const held = topics.reduce((sum, t) => sum + t.partitions, 0)
    if (held > this.partitionBudget.limit) {
      opts.warn?.(
        { partitions: held, budget: this.partitionBudget.limit },
        `this broker holds ${held} partitions, over its budget of ${this.partitionBudget.limit} (${this.partitionBudget.source})`,
      )
    }
    for (const topic of topics) await this.#openPartitions(topic)
    this.#ready = true
  }

  async close(): Promise<void> {
    this.#closed = true
    this.waiters.wakeAll()
    await this.router.close()
  }

  settingsFor(topic: TopicMetadata): PartitionLogSettings {
    const c = this.config
    return {
      segmentBytes: topic.config.segmentBytes ?? c.segmentBytes,
      segmentMs: topic.config.segmentMs ?? c.segmentMs,
      retentionMs: topic.config.retentionMs ?? c.retentionMs,
      retentionBytes: topic.config.retentionBytes ?? c.retentionBytes,
      indexIntervalBytes: c.indexIntervalBytes,
      flushIntervalMs: c.flushIntervalMs,
      flushMessages: c.flushMessages,
    }
  }

  async #openPartitions(topic: TopicMetadata): Promise<void> {
    for (let p = 0; p < topic.partitions; p++) {
      if (this.#cluster && !this.#cluster.replicates(topic.name, p)) continue
      await this.#openPartition(topic, p)
    }
  }

  async #openPartition(topic: TopicMetadata, partition: number): Promise<void> {
    const state = await this.router.request({
      op: 'open',
      topic: topic.name,
      partition,
      dir: this.topics.partitionDir(topic.name, partition),
      settings: this.settingsFor(topic),
      ...(this.#cluster && { replicated: true }),
    })
    this.#updateState(state)
  }

  /** This broker holds the partition open (in a cluster: it replicates it). */
  isOpen(topic: string, partition: number): boolean {
    return this.#states.has(partitionKey(topic, partition))
  }

  /**
   * Cluster mode, a reassignment: opens one partition of a topic this broker already has (a replica
   * moved here), or closes one and deletes its directory (a replica moved away).
   */
  async openPartition(topic: string, partition: number): Promise<void> {
    const meta = this.topics.get(topic)
    this.#checkPartition(meta, partition)
    if (!this.isOpen(topic, partition)) await this.#openPartition(meta, partition)
  }

  async removePartition(topic: string, partition: number): Promise<void> {
    const meta = this.topics.get(topic)
    this.#checkPartition(meta, partition)
    await this.router.request({ op: 'close', topic, partition, remove: true })
    // A copy left on disk while the partition was closed (say, moved away while this broker was down).
    await rm(this.topics.partitionDir(topic, partition), { recursive: true, force: true })
    this.#states.delete(partitionKey(topic, partition))
    this.waiters.notify(partitionKey(topic, partition))
  }

  #updateState(state: PartitionState): void {
    const key = partitionKey(state.topic, state.partition)
    const previous = this.#states.get(key)
    this.#states.set(key, state)
    if (
      !previous ||
      previous.highWatermark !== state.highWatermark ||
      previous.logStartOffset !== state.logStartOffset ||
      previous.offline !== state.offline
    ) {
      this.waiters.notify(key)
    }
    for (const listener of this.#stateListeners) listener(state)
  }

  partitionState(topic: string, partition: number): PartitionState {
    const meta = this.topics.get(topic)
    this.#checkPartition(meta, partition)
    const state = this.#states.get(partitionKey(topic, partition))
    if (!state) throw new NotReadyError(`partition ${topic}/${partition} is still opening`)
    return state
  }

  #checkPartition(meta: TopicMetadata, partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= meta.partitions) {
      throw new PartitionNotFoundError(`topic "${meta.name}" has no partition ${partition}`, {
        topic: meta.name,
        partition,
        partitions: meta.partitions,
      })
    }
  }

  // ---- topics -------------------------------------------------------------------------------

  async createTopic(input: CreateTopicInput): Promise<TopicDescription> {
    checkTopicName(input.name, { internal: input.internal ?? false })
    const partitions = input.partitions ?? this.config.defaultPartitions
    if (!input.internal && partitions > this.config.maxPartitionsPerTopic) {
      throw new InvalidConfigError(
        `a topic may have at most ${this.config.maxPartitionsPerTopic} partitions (--max-partitions-per-topic); ${partitions} asked`,
        { field: 'partitions', partitions, limit: this.config.maxPartitionsPerTopic },
      )
    }
    if (this.#cluster) {
      await this.#cluster.createTopic(input)
      return this.describeTopic(input.name)
    }
    if ((input.replicationFactor ?? 1) > 1) {
      throw new InvalidRequestError('replicationFactor > 1 needs a cluster (start brokers with --etcd)', {
        field: 'replicationFactor',
      })
    }
    // Checked and claimed (topics.create registers the name first) with no await between them.
    if (!input.internal) this.#checkPartitionBudget(partitions)
    const meta: TopicMetadata = {
      name: input.name,
      partitions,
      replicationFactor: input.replicationFactor ?? 1,
      config: input.config ?? {},
      createdAt: Date.now(),
    }
    await this.addTopic(meta)
    return this.describeTopic(meta.name)
  }

  /** Partitions of every topic on this broker (a single broker holds them all). */
  partitionCount(): number {
    return this.topics.list().reduce((sum, t) => sum + t.partitions, 0)
  }

  #checkPartitionBudget(adding: number): void {
    const { limit, source } = this.partitionBudget
    const held = this.partitionCount()
    if (held + adding <= limit) return
    throw new PartitionLimitReachedError(
      `this broker holds ${held} partitions and its budget is ${limit} (${source}); ${adding} more do not fit`,
      { partitions: adding, held, budget: limit },
    )
  }

  /** Creates a topic on this broker's disk and opens its partitions (in a cluster, those it replicates). */
  async addTopic(meta: TopicMetadata): Promise<void> {
    await this.topics.create(meta)
    try {
      await this.#openPartitions(meta)
    } catch (err) {
      // All or nothing: a topic whose partitions did not all open is not left behind on disk. It
      // never existed for anyone, so the topic-deleted listeners are not told.
      await this.#discardTopic(meta.name).catch(() => undefined)
      throw err
    }
  }

  async deleteTopic(name: string): Promise<void> {
    if (name.startsWith(INTERNAL_PREFIX)) {
      throw new InvalidTopicNameError(`"${name}" is an internal topic and cannot be deleted`, { topic: name })
    }
    if (this.#cluster) return this.#cluster.deleteTopic(name)
    await this.removeTopic(name)
  }

  /** Closes a topic's partitions and removes it from this broker's disk. */
  async removeTopic(name: string): Promise<void> {
    await this.#discardTopic(name)
    for (const listener of this.#topicDeletedListeners) await listener(name)
  }

  async #discardTopic(name: string): Promise<void> {
    const meta = this.topics.get(name)
    for (let p = 0; p < meta.partitions; p++) {
      await this.router.request({ op: 'close', topic: name, partition: p, remove: false })
      this.#states.delete(partitionKey(name, p))
      this.waiters.notify(partitionKey(name, p))
    }
    await this.topics.delete(name)
  }

  describeTopic(name: string): TopicDescription {
    const meta = this.topics.get(name)
    const partitions: PartitionDescription[] = []
    for (let p = 0; p < meta.partitions; p++) {
      const s = this.#states.get(partitionKey(name, p))
      const c = this.#cluster?.describePartition(name, p)
      const d: PartitionDescription = {
        partition: p,
        leader: c?.leader ?? this.config.brokerId,
        replicas: c?.replicas ?? [this.config.brokerId],
        isr: c?.isr ?? [this.config.brokerId],
        logStartOffset: s?.logStartOffset ?? 0,
        logEndOffset: s?.logEndOffset ?? 0,
        highWatermark: s?.highWatermark ?? 0,
      }
      if (s?.offline) d.offline = s.offline
      if (c?.addingReplicas) d.addingReplicas = c.addingReplicas
      if (c?.removingReplicas) d.removingReplicas = c.removingReplicas
      partitions.push(d)
    }
    return { name, partitions, replicationFactor: meta.replicationFactor, config: meta.config }
  }

  listTopics(opts: { internal?: boolean } = {}): TopicDescription[] {
    return this.topics
      .list()
      .filter((t) => opts.internal || !t.name.startsWith('__'))
      .map((t) => this.describeTopic(t.name))
  }

  // ---- produce ------------------------------------------------------------------------------

  /** Appends records and answers with their offsets in request order (publisher confirm). */
  async produce(
    topic: string,
    records: readonly ProduceRecord[],
    opts: ProduceOptions,
  ): Promise<ProduceResult> {
    if (!this.ready) throw new NotReadyError('the broker is recovering its logs; retry shortly')
    const meta = this.topics.get(topic)
    const keys = opts.encoded?.keys ?? records.map((r) => encodeKey(r.key))
    const placement = this.#place(meta, records, keys, opts)
    const now = Date.now()
    const groups = new Map<
      number,
      { indexes: number[]; bodies: Buffer[]; first: number; max: number; bytes: number }
    >()
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as ProduceRecord
      const p = placement[i] as number
      const body = opts.encoded?.bodies[i] ?? encodeRecordBody(record, now, keys[i])
      if (body.length > this.config.maxRecordBytes) {
        throw new PayloadTooLargeError(
          `record ${i} is ${body.length} bytes encoded; the limit is ${this.config.maxRecordBytes}`,
          { index: i, bytes: body.length, limit: this.config.maxRecordBytes },
        )
      }
      const ts = record.timestamp ?? now
      let g = groups.get(p)
      if (!g) {
        g = { indexes: [], bodies: [], first: ts, max: ts, bytes: 0 }
        groups.set(p, g)
      }
      g.indexes.push(i)
      g.bodies.push(body)
      g.bytes += body.length
      if (ts > g.max) g.max = ts
    }
    this.#checkBatchSizes(meta, groups.values())
    if (opts.producerId !== undefined && (opts.sequence ?? 0) + records.length > MAX_SEQUENCE) {
      throw new InvalidRequestError(
        `sequence + record count must stay below 2^31 (sequence ${opts.sequence})`,
        {
          field: 'sequence',
        },
      )
    }
    const batches = [...groups].map(([partition, g]) => {
      const batch = buildBatch({
        records: g.bodies,
        firstTimestamp: g.first,
        maxTimestamp: g.max,
        producerId: opts.producerId ?? -1,
        producerEpoch: opts.producerId === undefined ? -1 : 0,
        baseSequence: opts.producerId === undefined ? -1 : (opts.sequence ?? 0) + (g.indexes[0] as number),
      })
      this.#cluster?.checkProduce(topic, partition, opts.acks)
      this.#checkWritable(topic, partition)
      if (!opts.internal) this.#admission?.(topic, partition, batch.length)
      return { partition, batch, indexes: g.indexes }
    })
    const results = await Promise.all(
      batches.map((b) =>
        this.router.request({
          op: 'append',
          topic,
          partition: b.partition,
          batch: b.batch,
          acks: opts.acks,
          checkSequenceGap: opts.partition !== undefined,
        }),
      ),
    )
    const cluster = this.#cluster
    if (cluster) {
      // acks=all in a cluster: confirmed only once the high watermark (the ISR) passed every batch.
      await Promise.all(
        batches.map(async (b, n) => {
          const result = results[n] as AppendResult
          const reached = await cluster.awaitReplication(topic, b.partition, result.lastOffset, opts.acks)
          if (reached) result.durability = reached
        }),
      )
    }
    return this.#confirm(topic, records.length, batches, results)
  }

  #confirm(
    topic: string,
    count: number,
    batches: Array<{ partition: number; indexes: number[] }>,
    results: AppendResult[],
  ): ProduceResult {
    const offsets = new Array<{ partition: number; offset: number }>(count)
    let durability: Durability = 'replicated'
    batches.forEach((b, n) => {
      const result = results[n] as AppendResult
      b.indexes.forEach((recordIndex, k) => {
        offsets[recordIndex] = { partition: b.partition, offset: result.baseOffset + k }
      })
      if (DURABILITY_RANK[result.durability] < DURABILITY_RANK[durability]) durability = result.durability
      const state = this.#states.get(partitionKey(topic, b.partition))
      if (state && result.lastOffset + 1 > state.logEndOffset) state.logEndOffset = result.lastOffset + 1
    })
    return { offsets, durability }
  }

  #checkWritable(topic: string, partition: number): void {
    const state = this.#states.get(partitionKey(topic, partition))
    if (state?.offline) {
      throw new PartitionOfflineError(`partition ${topic}/${partition} is offline: ${state.offline}`, {
        topic,
        partition,
      })
    }
  }

  /**
   * A batch larger than the segment size is refused by the log; check it for every partition
   * before any is written, so a request fails whole instead of half-written.
   */
  #checkBatchSizes(meta: TopicMetadata, groups: Iterable<{ bodies: Buffer[]; bytes: number }>): void {
    const segmentBytes = meta.config.segmentBytes ?? this.config.segmentBytes
    for (const g of groups) {
      const size = BATCH_HEADER_SIZE + 4 * g.bodies.length + g.bytes
      if (size > segmentBytes) {
        throw new PayloadTooLargeError(
          `a batch of ${size} bytes does not fit a segment of ${segmentBytes} bytes`,
          {
            bytes: size,
            segmentBytes,
          },
        )
      }
    }
  }

  /**
   * The partition of each record: explicit, else by key hash, else one partition per request.
   * Keyless records of an idempotent request (producerId + sequence) go to a partition derived
   * from that pair, so a retry lands where the original did and is deduplicated there; other
   * keyless requests move round-robin.
   */
  #place(
    meta: TopicMetadata,
    records: readonly ProduceRecord[],
    keys: readonly Buffer[],
    opts: ProduceOptions,
  ): number[] {
    const forced = opts.partition
    if (forced !== undefined) {
      this.#checkPartition(meta, forced)
      return records.map(() => forced)
    }
    let keyless: number | undefined
    return records.map((record, i) => {
      if (record.partition !== undefined) {
        this.#checkPartition(meta, record.partition)
        return record.partition
      }
      if (record.key !== undefined && record.key !== null)
        return partitionForKey(keys[i] as Buffer, meta.partitions)
      keyless ??=
        opts.producerId === undefined
          ? this.#sticky.next(meta.name, meta.partitions)
          : partitionForKey(wirePackr.pack([opts.producerId, opts.sequence ?? 0]), meta.partitions)
      return keyless
    })
  }

  // ---- fetch --------------------------------------------------------------------------------

  /** Reads from `offset`, long-polling up to maxWaitMs for at least one record. */
  async fetch(
    topic: string,
    partition: number,
    opts: FetchOptions,
    format: FetchFormat = 'partition',
  ): Promise<FetchResult> {
    this.#cluster?.checkFetch(topic, partition, format)
    const deadline = Date.now() + Math.min(opts.maxWaitMs, this.config.maxWaitMsLimit)
    const key = partitionKey(topic, partition)
    for (;;) {
      const state = this.partitionState(topic, partition)
      const remaining = deadline - Date.now()
      if (
        state.highWatermark > opts.offset ||
        remaining <= 0 ||
        opts.signal?.aborted ||
        this.#closed ||
        state.offline
      ) {
        const maxBytes = Math.min(opts.maxBytes, this.config.maxFetchBytes)
        await opts.budget?.reserve(maxBytes)
        return this.router.request({
          op: 'fetch',
          topic,
          partition,
          offset: opts.offset,
          maxRecords: opts.maxRecords,
          maxBytes,
          format,
        })
      }
      if (opts.offset > state.logEndOffset || opts.offset < state.logStartOffset) {
        // Out of range: let the owner answer with its exact error and bounds.
        return this.router.request({
          op: 'fetch',
          topic,
          partition,
          offset: opts.offset,
          maxRecords: 1,
          maxBytes: 1,
          format,
        })
      }
      await this.waiters.waitForChange([key], remaining, opts.signal)
    }
  }

  async listOffset(topic: string, partition: number, at: 'earliest' | 'latest' | number): Promise<number> {
    const meta = this.topics.get(topic)
    this.#checkPartition(meta, partition)
    this.#cluster?.checkFetch(topic, partition, 'partition')
    return (await this.router.request({ op: 'listOffset', topic, partition, at })).offset
  }
}
