/**
 * TopicReader: every partition of some topics, read from a chosen position without a group.
 *
 *     const reader = new TopicReader(client, { topics: 'orders', from: 'earliest', follow: false })
 *     for await (const record of reader) console.log(record.partition, record.offset, record.value)
 *
 * For tools and replays (the CLI's `consume` without `--group`, `bench`): nothing is committed and
 * no group is joined. Each partition is read by its own loop of long-polling fetches, all feeding
 * one buffer that the iterator drains; a loop pauses while the buffer holds `bufferRecords`, so a
 * slow reader holds a bounded amount of memory. With `follow: false` each partition stops at the
 * high watermark it had when the reader started, and iteration ends once all of them got there.
 * A position below the log start (retention deleted it) moves to the log start.
 */
import { OffsetOutOfRangeError } from '../errors.js'
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import { ClientClosedError } from './client-errors.js'
import type { RetryOptions } from './retry.js'
import type { ConsumerRecord, TopicPartitionOffset } from './types.js'

export type StartPosition = 'earliest' | 'latest' | { offset: number } | { timestamp: number }

export interface TopicReaderOptions {
  topics: string | readonly string[]
  /** Only these partition numbers (of every topic). Default all. */
  partitions?: readonly number[]
  /** Default `earliest`. */
  from?: StartPosition
  /** Keep waiting for new records (default) or stop at the high watermark seen at the start. */
  follow?: boolean
  maxRecords?: number
  maxBytes?: number
  /** Long-poll time per fetch. Default 1 s. */
  maxWaitMs?: number
  /** Records read ahead of the application before the partition loops pause. Default 2 000. */
  bufferRecords?: number
  retry?: RetryOptions
}

interface PartitionPlan extends TopicPartitionOffset {
  /** Stop before this offset (`follow: false`). */
  end: number | undefined
}

export class TopicReader<V = unknown, K = unknown> implements AsyncIterable<ConsumerRecord<V, K>> {
  readonly client: BrokerClient
  readonly #ownsClient: boolean
  readonly #options: TopicReaderOptions
  readonly #call: CallOptions | undefined
  readonly #abort = new AbortController()
  readonly #buffer: ConsumerRecord<V, K>[] = []
  readonly #positions = new Map<string, TopicPartitionOffset>()
  readonly #spaceWaiters: Array<() => void> = []
  #dataWaiter: (() => void) | undefined
  #plan: Promise<PartitionPlan[]> | undefined
  #loops: Promise<void> | undefined
  #running = 0
  #failure: unknown
  #closed = false

  constructor(client: BrokerClient | ClientOptions, options: TopicReaderOptions) {
    this.#ownsClient = !(client instanceof BrokerClient)
    this.client = client instanceof BrokerClient ? client : new BrokerClient(client)
    this.#options = options
    this.#call = options.retry ? { retry: options.retry } : undefined
  }

  /** Resolves the start (and, without `follow`, end) offset of every partition and starts reading. */
  start(): Promise<PartitionPlan[]> {
    if (this.#closed) return Promise.reject(new ClientClosedError('reader'))
    this.#plan ??= this.#makePlan().then((plan) => {
      this.#running = plan.length
      this.#loops = Promise.all(plan.map((p) => this.#read(p))).then(() => undefined)
      return plan
    })
    return this.#plan
  }

  /** The next offset to read per partition, after the records handed out so far. */
  positions(): TopicPartitionOffset[] {
    return [...this.#positions.values()]
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumerRecord<V, K>> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close()
        return { done: true, value: undefined }
      },
    }
  }

  async next(): Promise<IteratorResult<ConsumerRecord<V, K>>> {
    await this.start()
    for (;;) {
      const record = this.#buffer.shift()
      if (record) {
        this.#positions.set(`${record.topic}\u0000${record.partition}`, {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset + 1,
        })
        this.#spaceWaiters.shift()?.()
        return { done: false, value: record }
      }
      if (this.#failure !== undefined) throw this.#failure
      if (this.#closed || this.#running === 0) return { done: true, value: undefined }
      await new Promise<void>((resolve) => {
        this.#dataWaiter = resolve
      })
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    for (const wake of this.#spaceWaiters.splice(0)) wake()
    this.#wakeReader()
    await this.#plan?.catch(() => undefined)
    await this.#loops?.catch(() => undefined)
    if (this.#ownsClient) await this.client.close()
  }

  async #makePlan(): Promise<PartitionPlan[]> {
    const topics = typeof this.#options.topics === 'string' ? [this.#options.topics] : this.#options.topics
    const from = this.#options.from ?? 'earliest'
    const follow = this.#options.follow ?? true
    const plans: PartitionPlan[] = []
    for (const topic of topics) {
      const description = await this.client.describeTopic(topic, this.#call)
      for (const p of description.partitions) {
        if (this.#options.partitions && !this.#options.partitions.includes(p.partition)) continue
        let offset: number
        if (from === 'earliest') offset = p.logStartOffset
        else if (from === 'latest') offset = p.highWatermark
        else if ('offset' in from) offset = from.offset
        else offset = await this.client.offsetFor(topic, p.partition, from.timestamp, this.#call)
        const plan = { topic, partition: p.partition, offset, end: follow ? undefined : p.highWatermark }
        this.#positions.set(`${topic}\u0000${p.partition}`, { topic, partition: p.partition, offset })
        plans.push(plan)
      }
    }
    return plans
  }

  async #read(plan: PartitionPlan): Promise<void> {
    let offset = plan.offset
    try {
      while (!this.#closed && (plan.end === undefined || offset < plan.end)) {
        let res: Awaited<ReturnType<BrokerClient['fetch']>>
        try {
          res = await this.client.fetch<V, K>(
            plan.topic,
            plan.partition,
            {
              offset,
              ...(this.#options.maxRecords !== undefined && { maxRecords: this.#options.maxRecords }),
              ...(this.#options.maxBytes !== undefined && { maxBytes: this.#options.maxBytes }),
              maxWaitMs: this.#options.maxWaitMs ?? 1_000,
              signal: this.#abort.signal,
            },
            this.#call,
          )
        } catch (err) {
          const start =
            err instanceof OffsetOutOfRangeError ? Number(err.details?.logStartOffset) : Number.NaN
          if (Number.isFinite(start) && offset < start) {
            offset = start
            continue
          }
          throw err
        }
        for (const r of res.records as ConsumerRecord<V, K>[]) {
          if (plan.end !== undefined && r.offset >= plan.end) break
          this.#buffer.push({ ...r, topic: plan.topic, partition: plan.partition })
        }
        offset = Math.max(offset, res.nextOffset)
        this.#wakeReader()
        const limit = this.#options.bufferRecords ?? 2_000
        while (!this.#closed && this.#buffer.length >= limit) {
          await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
        }
      }
    } catch (err) {
      if (!this.#closed && this.#failure === undefined) this.#failure = err
    } finally {
      this.#running--
      this.#wakeReader()
    }
  }

  #wakeReader(): void {
    const wake = this.#dataWaiter
    this.#dataWaiter = undefined
    wake?.()
  }
}
