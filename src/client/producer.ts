/**
 * Producer: `send(topic, records)` resolves with the records' offsets once the broker confirms
 * them at the asked `acks` (a publisher confirm).
 *
 * Batching. Each topic has one request stream with at most one request in flight. Sends that
 * arrive while a request is in flight, or within `lingerMs` of the first queued send, are packed
 * into the next request up to `maxBatchRecords` / `maxBatchBytes`; so under load many sends cost
 * one round trip even with `lingerMs: 0`, and at rest a lone send goes out at once. A send is
 * never split across requests: the broker writes a request all or nothing, so each send is too.
 *
 * Idempotence (default). The producer draws a random 53-bit id. Each topic stream counts records:
 * a request carries `sequence` = the count before it, and the counter moves on by the request's
 * record count. A retry resends the same bytes with the same id and sequence, so a write whose
 * answer was lost (connection cut after the write) is answered with its first offsets instead of
 * landing twice. Keyless records without a partition are pinned to a partition here (round robin
 * per request, as the broker's sticky partitioner does) because the broker would otherwise pick
 * again on the retry and the repeat would not be recognised. After a request fails for good, the
 * stream takes a new producer id: one of its attempts may have written (a cut connection,
 * `ACK_TIMEOUT`), and reusing its sequence for other records would make the broker answer them
 * with that write's offsets instead of writing them.
 *
 * One in-flight request per topic keeps records in send order and makes the dedupe exact; the
 * price is one round trip of latency per batch per topic, which batching amortises.
 */
import { PartitionNotFoundError, TopicNotFoundError } from '../errors.js'
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import { ClientClosedError } from './client-errors.js'
import type { RetryOptions } from './retry.js'
import type { Acks, ExchangeRecord, ProducerRecord, PublishResponse, RecordOffset } from './types.js'

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
  readonly #partitionCounts = new Map<string, Promise<number>>()
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
   * once the broker confirmed them. Records of one call are written all or nothing.
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
    const fail = (err: unknown) => {
      for (const send of batch) send.reject(err)
    }
    let records = batch.flatMap((s) => s.records)
    const acks = this.#options.acks
    let ids: { producerId: number; sequence: number } | undefined
    if (this.#options.idempotent) {
      try {
        records = await this.#pinKeyless(stream, records)
      } catch (err) {
        fail(err)
        return
      }
      ids = this.#nextSequence(stream, records.length)
    }
    try {
      // A batch for one partition takes the partition route, so it goes straight to that
      // partition's leader once the client knows it (replicated topics).
      const partition = singlePartition(records)
      const body = partition === undefined ? records : records.map(withoutPartition)
      const res = await this.client.produce(
        stream.topic,
        { records: body, acks, ...ids },
        partition,
        this.#callOptions,
      )
      let at = 0
      for (const send of batch) {
        send.resolve(res.offsets.slice(at, at + send.records.length))
        at += send.records.length
      }
    } catch (err) {
      // The partition count may be stale (the topic was deleted and created again).
      if (err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError) {
        this.#partitionCounts.delete(stream.topic)
      }
      // Any attempt may have written (a cut connection, ACK_TIMEOUT) before the last error came back, so
      // the sequence is not reused: the stream continues under a fresh producer id.
      if (ids) {
        stream.producerId = randomProducerId()
        stream.sequence = 0
      }
      fail(err)
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

  /** Gives keyless, partition-less records one partition per request so a retry lands in the same place. */
  async #pinKeyless(stream: TopicStream, records: ProducerRecord[]): Promise<ProducerRecord[]> {
    const loose = (r: ProducerRecord) => r.partition === undefined && (r.key === undefined || r.key === null)
    if (!records.some(loose)) return records
    const count = await this.#partitionCount(stream.topic)
    const partition = stream.nextPartition++ % count
    return records.map((r) => (loose(r) ? { ...r, partition } : r))
  }

  #partitionCount(topic: string): Promise<number> {
    let count = this.#partitionCounts.get(topic)
    if (!count) {
      count = this.client
        .describeTopic(topic, this.#callOptions)
        .then((d) => Math.max(1, d.partitions.length))
      // A failed look-up (topic not yet created) is asked again next time.
      count.catch(() => this.#partitionCounts.delete(topic))
      this.#partitionCounts.set(topic, count)
    }
    return count
  }
}

function singlePartition(records: readonly ProducerRecord[]): number | undefined {
  const first = records[0]?.partition
  return first !== undefined && records.every((r) => r.partition === first) ? first : undefined
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
