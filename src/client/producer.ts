/**
 * Producer: `send(topic, records)` resolves with the records' offsets once the broker confirms
 * them at the asked `acks` (a publisher confirm).
 *
 * Batching. Each topic has one batch stream with at most one batch in flight. Sends that arrive
 * while a batch is in flight, or within `lingerMs` of the first queued send, are packed into the
 * next batch up to `maxBatchRecords` / `maxBatchBytes`; so under load many sends cost one round
 * trip even with `lingerMs: 0`, and at rest a lone send goes out at once.
 *
 * Routing. As Kafka's producer does, the producer places every record itself (explicit partition,
 * else the broker's key hash, else one partition per batch, round robin) and sends a batch as one
 * request per partition, all at once, each on the partition's route so the client sends it to that
 * partition's leader. In a cluster no broker leads every partition, and a broker refuses a whole
 * request (NOT_LEADER) when it does not lead each partition in it, so a request mixing partitions
 * could be written nowhere. The leaders come from the topic's metadata, asked once per topic, and
 * the client follows `NOT_LEADER` per partition from there. A request is written all or nothing,
 * so a send's records in one partition are too; a send spanning partitions may land in some of
 * them and fail in others (it then rejects).
 *
 * Idempotence (default). The producer draws a random 53-bit id. Each topic stream counts records:
 * each partition's request carries `sequence` = the count before its first record, and the counter
 * moves on by the batch's record count. A retry resends the same bytes with the same id and
 * sequence, so a write whose answer was lost (connection cut after the write, a leader killed after
 * replicating) is answered with its first offsets instead of landing twice; placing records here
 * means a retry lands where the first attempt did. After a request fails for good, the stream takes
 * a new producer id: one of its attempts may have written (a cut connection, `ACK_TIMEOUT`), and
 * reusing its sequence for other records would make the broker answer them with that write's
 * offsets instead of writing them.
 *
 * One in-flight batch per topic keeps records in send order and makes the dedupe exact; the price
 * is one round trip of latency per batch per topic, which batching amortises.
 */
import { PartitionNotFoundError, TopicNotFoundError } from '../errors.js'
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import { ClientClosedError } from './client-errors.js'
import { partitionForRecordKey } from './partitioner.js'
import type { RetryOptions } from './retry.js'
import type {
  Acks,
  ExchangeRecord,
  ProducerRecord,
  PublishResponse,
  RecordOffset,
  TopicDescription,
} from './types.js'

export interface ProducerOptions {
  /** `'all'` (default): durable on every in-sync replica; `1`: written by the leader; `0`: fire and forget. */
  acks?: Acks
  /** Producer id + sequence on every request so retries never duplicate. Default true. */
  idempotent?: boolean
  /** Wait this long for more sends before a request goes out. Default 0 (see the module comment). */
  lingerMs?: number
  /** Upper bound on a request's estimated record bytes. Default 1 MiB. */
  maxBatchBytes?: number
  /** Upper bound on a request's records. Default 10 000. */
  maxBatchRecords?: number
  /** `send` waits while this many estimated bytes are queued and unsent. Default 64 MiB. */
  maxQueuedBytes?: number
  /** Retries of each request (the client's policy when absent). */
  retry?: RetryOptions
}

interface PendingSend {
  records: ProducerRecord[]
  bytes: number
  resolve: (offsets: RecordOffset[]) => void
  reject: (err: unknown) => void
}

interface TopicStream {
  readonly topic: string
  readonly queue: PendingSend[]
  queuedBytes: number
  queuedRecords: number
  inFlight: Promise<void> | undefined
  lingerTimer: NodeJS.Timeout | undefined
  producerId: number
  sequence: number
  /** Round-robin position for pinning keyless records. */
  nextPartition: number
}

// The broker stores a batch's base sequence as an int32 (storage/README.md).
const MAX_SEQUENCE = 0x7fffffff

const DEFAULTS = {
  acks: 'all' as Acks,
  idempotent: true,
  lingerMs: 0,
  maxBatchBytes: 1024 * 1024,
  maxBatchRecords: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
}

export class Producer {
  readonly client: BrokerClient
  readonly #ownsClient: boolean
  readonly #options: typeof DEFAULTS
  readonly #callOptions: CallOptions | undefined
  readonly #streams = new Map<string, TopicStream>()
  readonly #metadata = new Map<string, Promise<TopicDescription>>()
  readonly #spaceWaiters: Array<() => void> = []
  #queuedBytes = 0
  #closed = false

  constructor(client: BrokerClient | ClientOptions = {}, options: ProducerOptions = {}) {
    this.#ownsClient = !(client instanceof BrokerClient)
    this.client = client instanceof BrokerClient ? client : new BrokerClient(client)
    this.#options = {
      acks: options.acks ?? DEFAULTS.acks,
      idempotent: options.idempotent ?? DEFAULTS.idempotent,
      lingerMs: options.lingerMs ?? DEFAULTS.lingerMs,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
      maxBatchRecords: options.maxBatchRecords ?? DEFAULTS.maxBatchRecords,
      maxQueuedBytes: options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes,
    }
    this.#callOptions = options.retry ? { retry: options.retry } : undefined
  }

  /**
   * Appends records to `topic` and resolves with one `{partition, offset}` per record, in order,
   * once the broker confirmed them. Records of one call in one partition are written all or nothing.
   */
  async send<V = unknown, K = unknown>(
    topic: string,
    records: ProducerRecord<V, K> | readonly ProducerRecord<V, K>[],
  ): Promise<RecordOffset[]> {
    if (this.#closed) throw new ClientClosedError('producer')
    const list = (Array.isArray(records) ? [...records] : [records]) as ProducerRecord[]
    if (list.length === 0) return []
    for (const r of list)
      if (r === null || typeof r !== 'object' || !('value' in r))
        throw new TypeError('a record needs a value')
    const bytes = list.reduce((sum, r) => sum + estimateRecordBytes(r), 0)
    while (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#options.maxQueuedBytes) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
      if (this.#closed) throw new ClientClosedError('producer')
    }
    const stream = this.#stream(topic)
    return new Promise<RecordOffset[]>((resolve, reject) => {
      stream.queue.push({ records: list, bytes, resolve, reject })
      stream.queuedBytes += bytes
      stream.queuedRecords += list.length
      this.#queuedBytes += bytes
      this.#schedule(stream)
    })
  }

  /** Routes records through an exchange (not batched, and not idempotent on the broker's side). */
  async publish<V = unknown, K = unknown>(
    exchange: string,
    records: ExchangeRecord<V, K> | readonly ExchangeRecord<V, K>[],
  ): Promise<PublishResponse> {
    if (this.#closed) throw new ClientClosedError('producer')
    const list = (Array.isArray(records) ? records : [records]) as ExchangeRecord[]
    return this.client.publish(exchange, list, this.#options.acks, this.#callOptions)
  }

  /** Sends everything queued now, skipping the linger, and waits for the answers. */
  async flush(): Promise<void> {
    const streams = [...this.#streams.values()]
    await Promise.all(streams.map((s) => this.#drain(s)))
  }

  /** Flushes, then refuses further sends; closes the client when the producer created it. */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.flush()
    this.#closed = true
    for (const wake of this.#spaceWaiters.splice(0)) wake()
    if (this.#ownsClient) await this.client.close()
  }

  #stream(topic: string): TopicStream {
    let stream = this.#streams.get(topic)
    if (!stream) {
      stream = {
        topic,
        queue: [],
        queuedBytes: 0,
        queuedRecords: 0,
        inFlight: undefined,
        lingerTimer: undefined,
        producerId: randomProducerId(),
        sequence: 0,
        nextPartition: Math.floor(Math.random() * 0x10000),
      }
      this.#streams.set(topic, stream)
    }
    return stream
  }

  #schedule(stream: TopicStream): void {
    if (stream.inFlight || stream.queue.length === 0) return
    const full =
      stream.queuedRecords >= this.#options.maxBatchRecords ||
      stream.queuedBytes >= this.#options.maxBatchBytes
    if (this.#options.lingerMs > 0 && !full) {
      stream.lingerTimer ??= setTimeout(() => this.#dispatch(stream), this.#options.lingerMs)
      return
    }
    this.#dispatch(stream)
  }

  /** Sends every queued request of the stream, one after the other. */
  async #drain(stream: TopicStream): Promise<void> {
    while (stream.inFlight || stream.queue.length > 0) {
      if (!stream.inFlight) this.#dispatch(stream)
      await stream.inFlight
    }
  }

  #dispatch(stream: TopicStream): void {
    clearTimeout(stream.lingerTimer)
    stream.lingerTimer = undefined
    if (stream.inFlight || stream.queue.length === 0) return
    const batch = this.#takeBatch(stream)
    stream.inFlight = this.#sendBatch(stream, batch).finally(() => {
      stream.inFlight = undefined
      this.#schedule(stream)
    })
  }

  #takeBatch(stream: TopicStream): PendingSend[] {
    let taken = 0
    let records = 0
    let bytes = 0
    for (const next of stream.queue) {
      const fits =
        records + next.records.length <= this.#options.maxBatchRecords &&
        bytes + next.bytes <= this.#options.maxBatchBytes
      if (taken > 0 && !fits) break
      taken++
      records += next.records.length
      bytes += next.bytes
    }
    const batch = stream.queue.splice(0, taken)
    stream.queuedRecords -= records
    stream.queuedBytes -= bytes
    this.#queuedBytes -= bytes
    while (this.#spaceWaiters.length > 0 && this.#queuedBytes < this.#options.maxQueuedBytes)
      this.#spaceWaiters.shift()?.()
    return batch
  }

  async #sendBatch(stream: TopicStream, batch: PendingSend[]): Promise<void> {
    const records = batch.flatMap((s) => s.records)
    let partitions: number[]
    try {
      partitions = await this.#place(stream, records)
    } catch (err) {
      for (const send of batch) send.reject(err)
      return
    }
    const ids = this.#options.idempotent ? this.#nextSequence(stream, records.length) : undefined
    // One request per partition, all at once: each goes to its partition's leader. Each carries its
    // own range of the batch's sequence numbers, so every partition sees its sequences grow.
    const byPartition = new Map<number, number[]>()
    partitions.forEach((partition, index) => {
      const indexes = byPartition.get(partition)
      if (indexes) indexes.push(index)
      else byPartition.set(partition, [index])
    })
    const offsets = new Array<RecordOffset | undefined>(records.length)
    const errors = new Array<unknown>(records.length)
    let nextSequence = ids?.sequence ?? 0
    let failed = false
    await Promise.all(
      [...byPartition].map(async ([partition, indexes]) => {
        const sequence = nextSequence
        nextSequence += indexes.length
        try {
          const res = await this.client.produce(
            stream.topic,
            {
              records: indexes.map((i) => withoutPartition(records[i] as ProducerRecord)),
              acks: this.#options.acks,
              ...(ids && { producerId: ids.producerId, sequence }),
            },
            partition,
            this.#callOptions,
          )
          // acks=0 answers before the write, with no offsets.
          indexes.forEach((recordIndex, k) => {
            offsets[recordIndex] = res.offsets[k]
          })
        } catch (err) {
          failed = true
          for (const recordIndex of indexes) errors[recordIndex] = err
          // The partition count may be stale (the topic was deleted and created again).
          if (err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError)
            this.#metadata.delete(stream.topic)
        }
      }),
    )
    // Any attempt may have written (a cut connection, ACK_TIMEOUT) before the last error came back, so
    // the sequence is not reused: the stream continues under a fresh producer id.
    if (failed && ids) {
      stream.producerId = randomProducerId()
      stream.sequence = 0
    }
    let at = 0
    for (const send of batch) {
      const range = { from: at, to: at + send.records.length }
      at = range.to
      const error = errors.slice(range.from, range.to).find((e) => e !== undefined)
      if (error !== undefined) send.reject(error)
      else send.resolve(offsets.slice(range.from, range.to).filter((o) => o !== undefined))
    }
  }

  #nextSequence(stream: TopicStream, count: number): { producerId: number; sequence: number } {
    if (stream.sequence + count > MAX_SEQUENCE) {
      stream.producerId = randomProducerId()
      stream.sequence = 0
    }
    const out = { producerId: stream.producerId, sequence: stream.sequence }
    stream.sequence += count
    return out
  }

  /**
   * Each record's partition, decided here rather than by the broker so that every request holds
   * one partition and goes to its leader (a broker writes only partitions it leads): explicit,
   * else the broker's own key hash, else one partition per request, round robin (as the broker's
   * sticky partitioner does). Pinned, a retry also lands where the first attempt did, so the
   * broker recognises the repeat.
   */
  async #place(stream: TopicStream, records: readonly ProducerRecord[]): Promise<number[]> {
    const metadata = this.#topicMetadata(stream.topic)
    if (records.every((r) => r.partition !== undefined)) {
      // Leaders are a head start only: NOT_LEADER answers would find them too.
      await metadata.catch(() => undefined)
      return records.map((r) => r.partition as number)
    }
    const count = Math.max(1, (await metadata).partitions.length)
    let keyless: number | undefined
    return records.map((r) => {
      if (r.partition !== undefined) return r.partition
      if (r.key !== undefined && r.key !== null) return partitionForRecordKey(r.key, count)
      keyless ??= stream.nextPartition++ % count
      return keyless
    })
  }

  /** The topic's description, asked once per topic; asking also teaches the client its leaders. */
  #topicMetadata(topic: string): Promise<TopicDescription> {
    let metadata = this.#metadata.get(topic)
    if (!metadata) {
      metadata = this.client.topicMetadata(topic, this.#callOptions)
      // A failed look-up (topic not yet created) is asked again next time.
      metadata.catch(() => this.#metadata.delete(topic))
      this.#metadata.set(topic, metadata)
    }
    return metadata
  }
}

function withoutPartition({ partition: _, ...record }: ProducerRecord): ProducerRecord {
  return record
}

/** A random positive integer below 2^53, so it survives JSON and JavaScript numbers. */
export function randomProducerId(): number {
  const hi = Math.floor(Math.random() * 0x200000) // 21 bits
  const lo = Math.floor(Math.random() * 0x100000000) // 32 bits
  return hi * 0x100000000 + lo || 1
}

/** A cheap upper-bound guess of a record's encoded size, for batch limits (not exact on purpose). */
export function estimateRecordBytes(record: ProducerRecord): number {
  let size = 16 + estimateValueBytes(record.value, 0) + estimateValueBytes(record.key, 0)
  if (record.headers) size += estimateValueBytes(record.headers, 0)
  return size
}

function estimateValueBytes(value: unknown, depth: number): number {
  if (value === undefined || value === null || typeof value === 'boolean') return 1
  if (typeof value === 'number' || typeof value === 'bigint') return 9
  if (typeof value === 'string') return 5 + value.length * 3
  if (value instanceof Uint8Array) return 5 + value.byteLength
  if (depth > 32) return 9
  if (Array.isArray(value)) return value.reduce<number>((sum, v) => sum + estimateValueBytes(v, depth + 1), 5)
  if (value instanceof Map) {
    let size = 5
    for (const [k, v] of value) size += estimateValueBytes(k, depth + 1) + estimateValueBytes(v, depth + 1)
    return size
  }
  if (typeof value === 'object') {
    let size = 5
    for (const [k, v] of Object.entries(value)) size += 5 + k.length * 3 + estimateValueBytes(v, depth + 1)
    return size
  }
  return 9
}
