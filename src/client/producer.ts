/**
 * Producer: `send(topic, records)` resolves with the records' offsets once the broker confirms
 * them at the asked `acks` (a publisher confirm).
 *
 * Batching. Each topic has one batch stream. Sends that arrive while a batch is in flight, or
 * within `lingerMs` of the first queued send, are packed into the next batch up to
 * `maxBatchRecords` / `maxBatchBytes`; so under load many sends cost one round trip even with
 * `lingerMs: 0`, and at rest a lone send goes out at once. Behind a batch in flight, a full batch
 * goes out at once, up to `maxInFlight` (default 5, the most, as Kafka's
 * max.in.flight.requests.per.connection), and a partial one waits for an answer: a producer that
 * outruns one round trip keeps the client and the broker busy at once (one batch is encoded or
 * decoded while another waits for its fsync) without trading big batches for many small ones.
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
 * Idempotence (default). The producer draws a random 53-bit id per topic stream and counts records
 * per partition, as Kafka's: each partition's request carries `sequence` = that partition's count
 * before its first record, and the count moves on by the records sent to that partition; a new id
 * starts every count at 0. A retry resends the same bytes with the same id and sequence, so a write
 * whose answer was lost (connection cut after the write, a leader killed after replicating) is
 * answered with its first offsets instead of landing twice; placing records here means a retry
 * lands where the first attempt did.
 *
 * Order with several batches in flight. A partition's requests share one pipelined connection
 * (the transport's lanes), so they reach the broker in send order. On the partition route the
 * broker refuses a sequence at or below one it already wrote (`DUPLICATE_SEQUENCE`) and, from a
 * producer it knows on that partition, one past the next (`OUT_OF_ORDER_SEQUENCE`, retriable, as
 * Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER): when a request is refused (THROTTLED, an alarm), the later
 * ones of its partition are refused too instead of written ahead of it. A partition takes any
 * sequence from a producer it does not know, so nothing goes out behind a request that opens a
 * partition (its first under the id) until that one is answered. A pipelined request gets one
 * attempt; when any fails, the stream sends nothing new until everything in flight is answered,
 * then resends the retriable failures one at a time, oldest first, with the retry policy (a written
 * one is answered with its first offsets; the broker holds each producer's last 5 batches, hence at
 * most 5 in flight), skipping a partition's later requests once one of it failed for good. After a
 * request fails for good, the stream takes a new producer id: one of its attempts may have written
 * (a cut connection, `ACK_TIMEOUT`), and reusing its sequence for other records would make the
 * broker answer them with that write's offsets instead of writing them. What the gap check cannot
 * catch: a broker that lost the producer's state on a partition (idle past the producer id
 * expiration, a day by default) takes a later request ahead of a refused earlier one, whose resend
 * is then refused (`DUPLICATE_SEQUENCE`) and its sends reject. Idempotence needs `acks: 'all'`
 * (as Kafka's): at acks 1 a write the leader confirmed can be lost in a leader change, and the gap
 * it leaves would fail the partition's next requests; acks 0 and 1 producers send no sequence.
 */
import { PartitionNotFoundError, TopicNotFoundError } from '../errors.js'
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import { ClientClosedError } from './client-errors.js'
import { partitionForRecordKey } from './partitioner.js'
import { isRetriable, type RetryOptions } from './retry.js'
import type {
  Acks,
  ExchangeRecord,
  ProduceRequest,
  ProducerRecord,
  PublishResponse,
  RecordOffset,
  TopicDescription,
} from './types.js'

export interface ProducerOptions {
  /** `'all'` (default): durable on every in-sync replica; `1`: written by the leader; `0`: fire and forget. */
  acks?: Acks
  /**
   * Producer id + sequence on every request so retries never duplicate. Default true with
   * `acks: 'all'`, false otherwise; `true` with acks 0 or 1 throws, as Kafka's
   * enable.idempotence does: a write the leader confirmed at acks 1 can be lost in a leader change,
   * and the partition would then refuse the producer's next sequences as a gap
   * (`OUT_OF_ORDER_SEQUENCE`) until the stream gave up on them.
   */
  idempotent?: boolean
  /** Wait this long for more sends before a request goes out. Default 0 (see the module comment). */
  lingerMs?: number
  /** Upper bound on a request's estimated record bytes. Default 1 MiB. */
  maxBatchBytes?: number
  /** Upper bound on a request's records. Default 10 000. */
  maxBatchRecords?: number
  /** `send` waits while this many estimated bytes are queued and unsent. Default 64 MiB. */
  maxQueuedBytes?: number
  /**
   * Batches of a topic in flight at once, 1 to 5; all but the first are full batches. Default 5.
   * A partition's requests travel in order on one connection, and the broker refuses a sequence
   * below one it wrote or past the next one: a request refused with a retriable error (THROTTLED,
   * a memory or disk alarm) is resent before the later ones, so records are written once, in send
   * order. Always 1 with `idempotent: false`.
   */
  maxInFlight?: number
  /** Retries of each request (the client's policy when absent). */
  retry?: RetryOptions
}

/**
 * A queued send. A lone record is kept without an array around it: a producer under load holds
 * tens of thousands of these until their answers come, and each object less is garbage collection
 * time less.
 */
interface PendingSend {
  records: ProducerRecord | ProducerRecord[]
  count: number
  bytes: number
  resolve: (offsets: RecordOffset[]) => void
  reject: (err: unknown) => void
}

/** One partition's share of a batch: one request to that partition's leader. */
interface PartitionRequest {
  partition: number
  /** The batch's records this request carries, by index; undefined when it carries all of them. */
  indexes: number[] | undefined
  body: ProduceRequest
  /** Set once answered: the offsets, or the error it failed with. */
  offsets: RecordOffset[] | undefined
  error: unknown
}

interface Batch {
  sends: PendingSend[]
  records: ProducerRecord[]
  requests: PartitionRequest[]
  /** Requests still waiting for an answer. */
  unanswered: number
  /**
   * A request of it is the first to its partition under the producer id not yet confirmed there:
   * nothing goes out behind it until it is answered (see `#dispatch`).
   */
  opening: boolean
}

interface TopicStream {
  readonly topic: string
  readonly queue: PendingSend[]
  queuedBytes: number
  queuedRecords: number
  /** Batches sent and not yet settled, oldest first. */
  readonly inFlight: Batch[]
  /** A request failed: nothing new goes out until every batch in flight has settled (see `#recover`). */
  recovering: boolean
  /** `flush()` is waiting: send without lingering until the stream is idle. */
  flushing: boolean
  readonly idleWaiters: Array<() => void>
  lingerTimer: NodeJS.Timeout | undefined
  producerId: number
  /**
   * Records sent under `producerId`, every partition together: no partition's count can be higher,
   * so keeping this below 2^31 keeps each partition's sequence in range.
   */
  recordsUnderId: number
  /** Each partition's next sequence under `producerId`: its records sent so far. */
  readonly sequences: Map<number, number>
  /**
   * Partitions where a request under `producerId` was confirmed: the broker knows the producer
   * there, so it refuses a sequence that skips ahead instead of taking it as a first write.
   */
  readonly confirmedPartitions: Set<number>
  /** Round-robin position for pinning keyless records. */
  nextPartition: number
  metadata: TopicDescription | undefined
  metadataLoading: boolean
  /** The last failed metadata look-up, handed to the next batch that needs a partition count. */
  metadataError: unknown
}

// The broker stores a batch's base sequence as an int32 (storage/README.md).
const MAX_SEQUENCE = 0x7fffffff
// The broker remembers each producer's last 5 batches per partition: a retry of an older one would
// be refused as stale, so no more may be unanswered at once.
const MAX_IN_FLIGHT = 5

const DEFAULTS = {
  acks: 'all' as Acks,
  idempotent: true,
  lingerMs: 0,
  maxBatchBytes: 1024 * 1024,
  maxBatchRecords: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  // As Kafka's max.in.flight.requests.per.connection: the broker's gap check makes a request
  // refused under backpressure a retry, not a loss (see "Order with several batches in flight").
  maxInFlight: 5,
}

const EMPTY_OFFSETS: readonly RecordOffset[] = Object.freeze([])

export class Producer {
  readonly client: BrokerClient
  readonly #ownsClient: boolean
  readonly #options: typeof DEFAULTS
  readonly #callOptions: CallOptions | undefined
  /** The first attempt of a pipelined request: its retries are the stream's, in order. */
  readonly #firstAttemptOptions: CallOptions
  readonly #streams = new Map<string, TopicStream>()
  readonly #spaceWaiters: Array<() => void> = []
  #queuedBytes = 0
  #closed = false

  constructor(client: BrokerClient | ClientOptions = {}, options: ProducerOptions = {}) {
    this.#ownsClient = !(client instanceof BrokerClient)
    this.client = client instanceof BrokerClient ? client : new BrokerClient(client)
    const acks = options.acks ?? DEFAULTS.acks
    if (options.idempotent === true && acks !== 'all')
      throw new RangeError(`idempotent needs acks 'all' (got acks ${String(acks)})`)
    const idempotent = options.idempotent ?? (DEFAULTS.idempotent && acks === 'all')
    const maxInFlight = options.maxInFlight ?? DEFAULTS.maxInFlight
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT)
      throw new RangeError(`maxInFlight must be an integer from 1 to ${MAX_IN_FLIGHT}`)
    this.#options = {
      acks,
      idempotent,
      lingerMs: options.lingerMs ?? DEFAULTS.lingerMs,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
      maxBatchRecords: options.maxBatchRecords ?? DEFAULTS.maxBatchRecords,
      maxQueuedBytes: options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes,
      // Without a sequence the broker cannot keep pipelined writes in order or recognise a repeat.
      maxInFlight: idempotent ? maxInFlight : 1,
    }
    this.#callOptions = options.retry ? { retry: options.retry } : undefined
    this.#firstAttemptOptions = { retry: { ...options.retry, maxAttempts: 1 } }
  }

  /**
   * Appends records to `topic` and resolves with one `{partition, offset}` per record, in order,
   * once the broker confirmed them. Records of one call in one partition are written all or nothing.
   */
  send<V = unknown, K = unknown>(
    topic: string,
    records: ProducerRecord<V, K> | readonly ProducerRecord<V, K>[],
  ): Promise<RecordOffset[]> {
    if (this.#closed) return Promise.reject(new ClientClosedError('producer'))
    let list: ProducerRecord | ProducerRecord[]
    let bytes = 0
    if (Array.isArray(records)) {
      list = records.slice() as ProducerRecord[]
      if (list.length === 0) return Promise.resolve([])
      for (const r of list) {
        if (!hasValue(r)) return Promise.reject(new TypeError('a record needs a value'))
        bytes += estimateRecordBytes(r)
      }
    } else {
      list = records as ProducerRecord
      if (!hasValue(list)) return Promise.reject(new TypeError('a record needs a value'))
      bytes = estimateRecordBytes(list)
    }
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#options.maxQueuedBytes)
      return this.#sendWhenRoom(topic, list, bytes)
    return this.#enqueue(topic, list, bytes)
  }

  async #sendWhenRoom(
    topic: string,
    list: ProducerRecord | ProducerRecord[],
    bytes: number,
  ): Promise<RecordOffset[]> {
    while (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#options.maxQueuedBytes) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
      if (this.#closed) throw new ClientClosedError('producer')
    }
    return this.#enqueue(topic, list, bytes)
  }

  #enqueue(
    topic: string,
    records: ProducerRecord | ProducerRecord[],
    bytes: number,
  ): Promise<RecordOffset[]> {
    const stream = this.#stream(topic)
    const count = Array.isArray(records) ? records.length : 1
    return new Promise<RecordOffset[]>((resolve, reject) => {
      stream.queue.push({ records, count, bytes, resolve, reject })
      stream.queuedBytes += bytes
      stream.queuedRecords += count
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
    await Promise.all([...this.#streams.values()].map((s) => this.#drain(s)))
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
        inFlight: [],
        recovering: false,
        flushing: false,
        idleWaiters: [],
        lingerTimer: undefined,
        producerId: randomProducerId(),
        recordsUnderId: 0,
        sequences: new Map(),
        confirmedPartitions: new Set(),
        nextPartition: Math.floor(Math.random() * 0x10000),
        metadata: undefined,
        metadataLoading: false,
        metadataError: undefined,
      }
      this.#streams.set(topic, stream)
    }
    return stream
  }

  #schedule(stream: TopicStream): void {
    if (stream.queue.length === 0 || stream.inFlight.length >= this.#options.maxInFlight) return
    const full = this.#full(stream)
    // Behind a batch in flight, only a full batch goes out at once: a partial one waits to fill
    // until an answer comes back, so pipelining never trades big batches for many small ones.
    if (stream.inFlight.length > 0 && !full && !stream.flushing) return
    if (this.#options.lingerMs > 0 && !full && !stream.flushing) {
      stream.lingerTimer ??= setTimeout(() => this.#dispatch(stream), this.#options.lingerMs)
      return
    }
    this.#dispatch(stream)
  }

  #full(stream: TopicStream): boolean {
    return (
      stream.queuedRecords >= this.#options.maxBatchRecords ||
      stream.queuedBytes >= this.#options.maxBatchBytes
    )
  }

  /** Waits until every queued send of the stream is answered, sending without lingering meanwhile. */
  #drain(stream: TopicStream): Promise<void> {
    if (this.#idle(stream)) return Promise.resolve()
    stream.flushing = true
    const idle = new Promise<void>((resolve) => stream.idleWaiters.push(resolve))
    this.#dispatch(stream)
    return idle
  }

  #idle(stream: TopicStream): boolean {
    return stream.queue.length === 0 && stream.inFlight.length === 0
  }

  /** Sends queued batches while the stream may have more in flight. */
  #dispatch(stream: TopicStream): void {
    clearTimeout(stream.lingerTimer)
    stream.lingerTimer = undefined
    while (
      !stream.recovering &&
      stream.queue.length > 0 &&
      stream.inFlight.length < this.#options.maxInFlight &&
      (stream.inFlight.length === 0 || stream.flushing || this.#full(stream))
    ) {
      // The topic's partitions are asked once; until the answer (or an error) nothing is placed, so
      // batches still get their sequence numbers in the order they go out.
      if (stream.metadata === undefined && stream.metadataError === undefined) {
        this.#loadMetadata(stream)
        return
      }
      // The broker checks order per producer id: a batch under a new id could land before a retry
      // of one in flight under the old id, so the id moves on only when nothing is in flight.
      if (stream.inFlight.length > 0 && this.#sequenceWraps(stream, stream.queuedRecords)) return
      // A partition takes any sequence from a producer it does not know yet: behind a first request
      // refused (THROTTLED), a later one would be written and the first one's resend then refused
      // as a duplicate. Nothing goes out behind a request that opens its partition.
      if (stream.inFlight.some((b) => b.opening)) return
      this.#sendBatch(stream, this.#takeBatch(stream))
    }
  }

  #loadMetadata(stream: TopicStream): void {
    if (stream.metadataLoading) return
    stream.metadataLoading = true
    this.client
      .topicMetadata(stream.topic, this.#callOptions)
      .then(
        (description) => {
          stream.metadata = description
        },
        (err: unknown) => {
          stream.metadataError = err
        },
      )
      .finally(() => {
        stream.metadataLoading = false
        this.#dispatch(stream)
      })
  }

  #takeBatch(stream: TopicStream): PendingSend[] {
    let taken = 0
    let records = 0
    let bytes = 0
    for (const next of stream.queue) {
      const fits =
        records + next.count <= this.#options.maxBatchRecords &&
        bytes + next.bytes <= this.#options.maxBatchBytes
      if (taken > 0 && !fits) break
      taken++
      records += next.count
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

  #sendBatch(stream: TopicStream, sends: PendingSend[]): void {
    const records: ProducerRecord[] = []
    for (const send of sends) {
      if (Array.isArray(send.records)) for (const r of send.records) records.push(r)
      else records.push(send.records)
    }
    let partitions: number[]
    try {
      partitions = this.#place(stream, records)
    } catch (err) {
      for (const send of sends) send.reject(err)
      this.#settled(stream)
      return
    }
    const producerId = this.#options.idempotent ? this.#producerIdFor(stream, records.length) : undefined
    // One request per partition, all at once: each goes to its partition's leader and carries that
    // partition's count as its sequence, so the broker can tell a gap (a request lost before it).
    const requests: PartitionRequest[] = []
    let opening = false
    for (const [partition, indexes] of groupByPartition(partitions)) {
      const slice = indexes === undefined ? records : indexes.map((i) => records[i] as ProducerRecord)
      let sequence = 0
      if (producerId !== undefined) {
        sequence = stream.sequences.get(partition) ?? 0
        stream.sequences.set(partition, sequence + slice.length)
      }
      const body: ProduceRequest = {
        records: slice.some((r) => r.partition !== undefined) ? slice.map(withoutPartition) : slice,
        acks: this.#options.acks,
        ...(producerId !== undefined && { producerId, sequence }),
      }
      if (producerId !== undefined && !stream.confirmedPartitions.has(partition)) opening = true
      requests.push({ partition, indexes, body, offsets: undefined, error: undefined })
    }
    const batch: Batch = { sends, records, requests, unanswered: requests.length, opening }
    stream.inFlight.push(batch)
    // Pipelined, a request gets one attempt here: its retries wait until the stream has stopped
    // and go out in order (`#recover`), so a retry never lands behind a later write.
    const options = this.#options.maxInFlight > 1 ? this.#firstAttemptOptions : this.#callOptions
    for (const request of requests) {
      this.#attempt(stream, request, options).then(() => {
        batch.unanswered--
        this.#answered(stream)
      })
    }
  }

  /** One produce call (with `options`' retries); never rejects: the outcome lands on `request`. */
  async #attempt(
    stream: TopicStream,
    request: PartitionRequest,
    options: CallOptions | undefined,
  ): Promise<void> {
    try {
      const res = await this.client.produce(stream.topic, request.body, request.partition, options)
      request.offsets = res.offsets
      request.error = undefined
      if (request.body.producerId === stream.producerId) stream.confirmedPartitions.add(request.partition)
    } catch (err) {
      request.error = err
      // The partition count may be stale (the topic was deleted and created again).
      if (err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError)
        stream.metadata = undefined
    }
  }

  /** Settles answered batches, oldest first; a failure stops the stream until it has recovered. */
  #answered(stream: TopicStream): void {
    if (!stream.recovering && stream.inFlight.some((b) => b.requests.some((r) => r.error !== undefined)))
      stream.recovering = true
    if (stream.recovering) {
      if (stream.inFlight.every((b) => b.unanswered === 0)) void this.#recover(stream)
      return
    }
    while (stream.inFlight.length > 0 && (stream.inFlight[0] as Batch).unanswered === 0)
      this.#finish(stream.inFlight.shift() as Batch)
    this.#settled(stream)
  }

  /**
   * After a failure, with nothing in flight: resends the batches' retriable failures one at a time,
   * oldest first, with the full retry policy, then settles every batch. A resend that was written
   * already is answered with its first offsets; one refused because an earlier one was not written
   * yet (`OUT_OF_ORDER_SEQUENCE`) follows that one's resend. Behind a request of a partition that
   * failed for good nothing of that partition is resent: it would leave a gap (refused again) or
   * land out of send order. The stream then continues under a fresh producer id when anything
   * failed for good: an attempt may have written (a cut connection, `ACK_TIMEOUT`), and reusing its
   * sequence for other records would make the broker answer them with that write's offsets instead
   * of writing them.
   */
  async #recover(stream: TopicStream): Promise<void> {
    const batches = stream.inFlight.splice(0)
    // A producer told to try once is not tried again here.
    if (this.#options.maxInFlight > 1 && this.#callOptions?.retry?.maxAttempts !== 1) {
      const failedPartitions = new Set<number>()
      for (const batch of batches) {
        for (const request of batch.requests) {
          if (request.error === undefined) continue
          if (isRetriable(request.error) && !failedPartitions.has(request.partition))
            await this.#attempt(stream, request, this.#callOptions)
          if (request.error !== undefined) failedPartitions.add(request.partition)
        }
      }
    }
    let failed = false
    for (const batch of batches) failed = this.#finish(batch) || failed
    if (failed && this.#options.idempotent) this.#newProducerId(stream)
    stream.recovering = false
    this.#settled(stream)
  }

  /** Resolves or rejects the batch's sends; true when a request of it failed. */
  #finish(batch: Batch): boolean {
    const { sends, requests } = batch
    const only = requests.length === 1 ? (requests[0] as PartitionRequest) : undefined
    if (only !== undefined) {
      // The common case: the whole batch in one partition, one answer.
      if (only.error !== undefined) {
        for (const send of sends) send.reject(only.error)
        return true
      }
      // acks=0 answers before the write, with no offsets.
      const offsets = only.offsets ?? EMPTY_OFFSETS
      let at = 0
      for (const send of sends) {
        const count = send.count
        if (offsets.length === 0) send.resolve([])
        else if (count === 1) send.resolve([offsets[at] as RecordOffset])
        else send.resolve(offsets.slice(at, at + count))
        at += count
      }
      return false
    }
    const offsets = new Array<RecordOffset | undefined>(batch.records.length)
    const errors = new Array<unknown>(batch.records.length)
    let failed = false
    for (const request of requests) {
      const indexes = request.indexes ?? []
      if (request.error !== undefined) {
        failed = true
        for (const i of indexes) errors[i] = request.error
      } else
        indexes.forEach((recordIndex, k) => {
          offsets[recordIndex] = request.offsets?.[k]
        })
    }
    let at = 0
    for (const send of sends) {
      const from = at
      at += send.count
      const error = errors.slice(from, at).find((e) => e !== undefined)
      if (error !== undefined) send.reject(error)
      else send.resolve(offsets.slice(from, at).filter((o) => o !== undefined))
    }
    return failed
  }

  /** After batches settled: more may go out, and `flush()` may be waiting for the stream to empty. */
  #settled(stream: TopicStream): void {
    this.#schedule(stream)
    if (!this.#idle(stream)) return
    stream.flushing = false
    for (const wake of stream.idleWaiters.splice(0)) wake()
  }

  #sequenceWraps(stream: TopicStream, count: number): boolean {
    return this.#options.idempotent && stream.recordsUnderId + count > MAX_SEQUENCE
  }

  /** The producer id for a batch of `count` records, a new one when a sequence would pass 2^31. */
  #producerIdFor(stream: TopicStream, count: number): number {
    if (this.#sequenceWraps(stream, count)) this.#newProducerId(stream)
    stream.recordsUnderId += count
    return stream.producerId
  }

  /** The broker knows nothing of a new id: every partition starts again at sequence 0, unconfirmed. */
  #newProducerId(stream: TopicStream): void {
    stream.producerId = randomProducerId()
    stream.recordsUnderId = 0
    stream.sequences.clear()
    stream.confirmedPartitions.clear()
  }

  /**
   * Each record's partition, decided here rather than by the broker so that every request holds
   * one partition and goes to its leader (a broker writes only partitions it leads): explicit,
   * else the broker's own key hash, else one partition per request, round robin (as the broker's
   * sticky partitioner does). Pinned, a retry also lands where the first attempt did, so the
   * broker recognises the repeat. Throws the metadata look-up's error when the partition count
   * is needed and unknown.
   */
  #place(stream: TopicStream, records: readonly ProducerRecord[]): number[] {
    const metadataError = stream.metadataError
    // A failed look-up is asked again for the next batch.
    stream.metadataError = undefined
    const count = stream.metadata ? Math.max(1, stream.metadata.partitions.length) : undefined
    let keyless: number | undefined
    const out = new Array<number>(records.length)
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as ProducerRecord
      if (r.partition !== undefined) out[i] = r.partition
      else if (count === undefined) throw metadataError
      else if (r.key !== undefined && r.key !== null) out[i] = partitionForRecordKey(r.key, count)
      else {
        keyless ??= stream.nextPartition++ % count
        out[i] = keyless
      }
    }
    return out
  }
}

/** partition → the indexes of its records, in order; a lone partition maps to undefined (all of them). */
function groupByPartition(partitions: readonly number[]): Map<number, number[] | undefined> {
  const first = partitions[0] as number
  if (partitions.every((p) => p === first)) return new Map([[first, undefined]])
  const out = new Map<number, number[] | undefined>()
  partitions.forEach((partition, index) => {
    const indexes = out.get(partition)
    if (indexes) indexes.push(index)
    else out.set(partition, [index])
  })
  return out
}

function hasValue(record: unknown): record is ProducerRecord {
  return record !== null && typeof record === 'object' && 'value' in record
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
