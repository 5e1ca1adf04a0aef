/**
 * Consumer: a member of a consumer group, read as an async iterator.
 *
 *     const consumer = new Consumer(client, { group: 'billing', topics: ['orders'] })
 *     for await (const record of consumer) {
 *       await handle(record)
 *       consumer.commit(record)
 *     }
 *
 * The consumer joins lazily (or on `connect()`), heartbeats in the background at a third of the
 * session timeout, and fetches a batch only when the application has taken every record of the
 * last one, so the application's pace sets the fetch rate and the buffer never holds more than
 * one batch (`maxRecords` / `maxBytes`).
 *
 * Acks. A commit names the next offset to read (Kafka's convention). `commit()` queues offsets;
 * they ride on the next fetch (the POST form of the member fetch commits and fetches in one round
 * trip), or, when the application is not about to fetch (it awaits the commit, or is still
 * working through a batch), go out on their own in the next turn of the event loop.
 * `autoCommit` is the broker's auto ack, nothing more: the member joins with it and the broker
 * commits each batch as it hands it out, so a consumer that crashes mid-batch loses the rest of
 * that batch (at-most-once). docs/consumer-groups.md ("Acks") is the one description of both modes.
 *
 * Controls. `seek()`, `nack()`, `resume()` and `autoOffsetReset` all come down to the broker's
 * member seek, sent before the next fetch (after the commits queued before it, so a commit cannot
 * undo a backward seek). `pause()` is client-side: records of a paused partition that still arrive
 * are dropped and read again on resume, from a seek. `batches()` hands out a fetch's records of one
 * partition at a time.
 *
 * Rebalances. Heartbeats bring the generation and assignment. When they change, records buffered
 * or queued for commit on partitions this member lost are dropped (the new owner reads them from
 * the last commit; a `commit()` still waiting for one of them rejects with STALE_GENERATION),
 * `onRevoke` and then `onAssign` run, and iteration continues. A member the broker forgot (its
 * session expired, or the group's coordinator changed: a failover, a preferred-leader election)
 * joins again; the partitions the new assignment gives back stay this consumer's with their queued
 * commits, which go out again under the new membership, so a `commit()` in flight across a
 * coordinator move resolves unless its partition went to another member. Leaving the loop early (`break`)
 * or `close()` commits what was queued and leaves the group at once, aborting a fetch in flight so
 * the partitions move without waiting for the session timeout.
 */
import {
  GroupNotFoundError,
  InvalidRequestError,
  MemberNotFoundError,
  RebalanceInProgressError,
  StaleGenerationError,
} from '../errors.js'
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import { ClientClosedError } from './client-errors.js'
import { type ConsumerEvents, Notifier } from './events.js'
import { type RetryOptions, sleep } from './retry.js'
import type { ConsumerRecord, OffsetSpec, TopicPartition, TopicPartitionOffset } from './types.js'

// After a rebalance answer, a short pause so a member does not spin while the group settles.
const REBALANCE_PAUSE_MS = 50
/**
 * A commit refused because the group moved on or forgot this member is sent again after the member
 * caught up (a heartbeat, or a join); a coordinator that moves twice in quick succession (a failover,
 * then the preferred leader taking it back) forgets the member twice.
 */
const COMMIT_ATTEMPTS = 4

export interface ConsumerOptions {
  group: string
  topics: string | readonly string[]
  /**
   * Auto ack: the broker commits every record as it hands it out, so a consumer that crashes
   * mid-batch loses the rest of that batch (at-most-once; docs/consumer-groups.md, "Acks").
   * Default false: manual ack with `commit()`, at-least-once.
   */
  autoCommit?: boolean
  /** The broker drops a member it has not heard from for this long. Default 10 s. */
  sessionTimeoutMs?: number
  /** Default a third of the session timeout. */
  heartbeatIntervalMs?: number
  /** Records per fetch. Default 500. */
  maxRecords?: number
  /** Bytes per fetch. Default 1 MiB. */
  maxBytes?: number
  /** Long-poll time of a fetch that finds nothing. Default 1 s. */
  maxWaitMs?: number
  /**
   * Where this consumer starts on a partition its group never committed: `'earliest'`, `'latest'`
   * (only records produced from now on), or a timestamp in ms (the first record at or after it).
   * Default: the group's own policy (`offsetReset` in its config, earliest unless set). kafkajs's
   * `fromBeginning: true` is `'earliest'`. Partitions with a committed offset resume from it.
   */
  autoOffsetReset?: OffsetSpec
  onAssign?: (partitions: TopicPartition[]) => void | Promise<void>
  onRevoke?: (partitions: TopicPartition[]) => void | Promise<void>
  retry?: RetryOptions
}

/** The records of one partition a fetch brought, handed out together by `batches()`. */
export interface ConsumerBatch<V = unknown, K = unknown> {
  topic: string
  partition: number
  /** In offset order, none missing. */
  records: ConsumerRecord<V, K>[]
  /** Commits the whole batch: the offset after its last record. */
  commit(): Promise<void>
}

interface Deferred {
  resolve: () => void
  reject: (err: unknown) => void
  /** The partitions of this `commit()` call (tpKey): it fails when one of them goes to another member. */
  partitions: ReadonlySet<string>
}

/** Offsets queued for commit and the `commit()` calls waiting for them. */
interface CommitBatch {
  offsets: Map<string, TopicPartitionOffset>
  waiters: Deferred[]
}

export class Consumer<V = unknown, K = unknown>
  extends Notifier<ConsumerEvents>
  implements AsyncIterable<ConsumerRecord<V, K>>
{
  readonly client: BrokerClient
  readonly group: string
  readonly topics: readonly string[]
  readonly #ownsClient: boolean
  readonly #options: Required<
    Omit<ConsumerOptions, 'onAssign' | 'onRevoke' | 'retry' | 'group' | 'topics' | 'autoOffsetReset'>
  >
  readonly #autoOffsetReset: OffsetSpec | undefined
  readonly #hooks: Pick<ConsumerOptions, 'onAssign' | 'onRevoke'>
  readonly #call: CallOptions | undefined
  readonly #abort = new AbortController()
  #memberId: string | undefined
  #generation = -1
  #assignments: TopicPartition[] = []
  #joining: Promise<void> | undefined
  /** A join after the broker forgot this member, with its check of the queued commits. */
  #rejoining: Promise<void> | undefined
  #heartbeatTimer: NodeJS.Timeout | undefined
  #heartbeating: Promise<void> | undefined
  #buffer: ConsumerRecord<V, K>[] = []
  /** Next offset after the last record handed to the application, per partition. */
  readonly #yielded = new Map<string, TopicPartitionOffset>()
  #pending: CommitBatch = { offsets: new Map(), waiters: [] }
  #flushScheduled = false
  #standalone: Promise<void> = Promise.resolve()
  #fetching: Promise<void> | undefined
  #nextChain: Promise<unknown> = Promise.resolve()
  #closing: Promise<void> | undefined
  /** Seeks to send before the next fetch (seek, nack, resume, autoOffsetReset). */
  readonly #seeks = new Map<string, TopicPartitionOffset>()
  /** Partitions sought while a fetch was in flight: that fetch's records of them are stale. */
  #soughtDuringFetch: Set<string> | undefined
  /** Paused partitions → where to read on resume (undefined: where the broker already is). */
  readonly #paused = new Map<string, TopicPartitionOffset | undefined>()
  /** Newly assigned partitions whose start `autoOffsetReset` has yet to settle; `dropped`: records were discarded. */
  readonly #unresolved = new Map<string, { tp: TopicPartition; dropped: boolean }>()

  constructor(client: BrokerClient | ClientOptions, options: ConsumerOptions) {
    const shared = client instanceof BrokerClient ? client : new BrokerClient(client)
    super(shared.logger)
    this.#ownsClient = !(client instanceof BrokerClient)
    this.client = shared
    this.group = options.group
    this.topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics]
    if (this.topics.length === 0) throw new TypeError('a consumer needs at least one topic')
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000
    this.#options = {
      autoCommit: options.autoCommit ?? false,
      sessionTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? Math.max(100, Math.floor(sessionTimeoutMs / 3)),
      maxRecords: options.maxRecords ?? 500,
      maxBytes: options.maxBytes ?? 1024 * 1024,
      maxWaitMs: options.maxWaitMs ?? 1_000,
    }
    this.#autoOffsetReset = options.autoOffsetReset
    this.#hooks = { onAssign: options.onAssign, onRevoke: options.onRevoke }
    this.#call = options.retry ? { retry: options.retry } : undefined
  }

  get memberId(): string | undefined {
    return this.#memberId
  }

  get generation(): number {
    return this.#generation
  }

  /** The partitions this member owns in the current generation. */
  get assignments(): readonly TopicPartition[] {
    return this.#assignments
  }

  get closed(): boolean {
    return this.#closing !== undefined
  }

  /** Joins the group (once) and resolves with the first assignment. */
  async connect(): Promise<readonly TopicPartition[]> {
    if (this.#closing) throw new ClientClosedError('consumer')
    if (this.#memberId === undefined) {
      this.#joining ??= this.#join().finally(() => {
        this.#joining = undefined
      })
      await this.#joining
    }
    return this.#assignments
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

  /** The next record; `done` once the consumer is closed. Calls are served one at a time. */
  async next(): Promise<IteratorResult<ConsumerRecord<V, K>>> {
    const taken = await this.#serially(() => this.#take(false))
    const record = taken?.[0]
    return record ? { done: false, value: record } : { done: true, value: undefined }
  }

  /** The next batch: the records of one partition from the current fetch; undefined once closed. */
  async nextBatch(): Promise<ConsumerBatch<V, K> | undefined> {
    const records = await this.#serially(() => this.#take(true))
    const last = records?.at(-1)
    if (!records || !last) return undefined
    return { topic: last.topic, partition: last.partition, records, commit: () => this.commit(last) }
  }

  /**
   * Batch processing: `for await (const batch of consumer.batches())`, each batch the records of
   * one partition, committed as one with `batch.commit()`. Leaving the loop closes the consumer, as with the record iterator.
   */
  async *batches(): AsyncGenerator<ConsumerBatch<V, K>, void, undefined> {
    try {
      for (;;) {
        const batch = await this.nextBatch()
        if (!batch) return
        yield batch
      }
    } finally {
      await this.close()
    }
  }

  /**
   * Reads `topic`/`partition` from `offset` on: backwards the records come again, forwards they
   * are skipped (not committed). Takes effect at the next fetch; records of that partition already
   * fetched are dropped. Only for partitions this member owns (a rebalance that takes the
   * partition away cancels the seek; its new owner starts from the committed offset).
   */
  seek(target: TopicPartitionOffset): void {
    if (this.#closing) throw new ClientClosedError('consumer')
    if (this.#memberId !== undefined && !this.#owns(target)) {
      throw new RangeError(`${target.topic}/${target.partition} is not assigned to this consumer`)
    }
    const key = tpKey(target)
    this.#buffer = this.#buffer.filter((r) => tpKey(r) !== key)
    this.#yielded.delete(key)
    this.#queueSeek({ topic: target.topic, partition: target.partition, offset: target.offset })
  }

  /**
   * Negative ack: `record` is delivered again, and so is every later record of its partition
   * (the partition is rewound to the record's offset, Kafka-style; RabbitMQ's requeue of one
   * message has no equivalent in a log). It counts as a redelivery for the group's `maxDeliveries`.
   */
  nack(record: ConsumerRecord): void {
    this.seek({ topic: record.topic, partition: record.partition, offset: record.offset })
  }

  /**
   * Stops handing out records of these partitions until `resume()`; the others go on. Records of a
   * paused partition that a fetch still brings are dropped and read again on resume.
   */
  pause(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) {
      const key = tpKey(tp)
      if (this.#paused.has(key)) continue
      const first = this.#buffer.find((r) => tpKey(r) === key)
      const sought = this.#seeks.get(key)
      this.#seeks.delete(key)
      this.#paused.set(
        key,
        sought ?? (first ? { topic: tp.topic, partition: tp.partition, offset: first.offset } : undefined),
      )
      this.#buffer = this.#buffer.filter((r) => tpKey(r) !== key)
    }
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) {
      const key = tpKey(tp)
      if (!this.#paused.has(key)) continue
      const from = this.#paused.get(key)
      this.#paused.delete(key)
      if (from) this.#queueSeek(from)
    }
  }

  /** The partitions paused now. */
  paused(): TopicPartition[] {
    return this.#assignments.filter((a) => this.#paused.has(tpKey(a)))
  }

  /**
   * Queues offsets for commit and resolves once the broker stored them. No argument: everything
   * handed to the application so far. A record: that record and those before it in its partition.
   * A list: those offsets, each naming the next record to read. Offsets of partitions a rebalance
   * has since moved to another member are left out: that member receives those records again. A
   * partition that moves to another member before its queued offset was made rejects the call
   * (STALE_GENERATION); a coordinator change alone does not (the consumer joins the new one and
   * sends the offsets again).
   */
  commit(what?: ConsumerRecord | readonly TopicPartitionOffset[]): Promise<void> {
    if (this.#closing && this.#memberId === undefined)
      return Promise.reject(new ClientClosedError('consumer'))
    const offsets: TopicPartitionOffset[] =
      what === undefined
        ? [...this.#yielded.values()]
        : Array.isArray(what)
          ? [...what]
          : [
              {
                topic: (what as ConsumerRecord).topic,
                partition: (what as ConsumerRecord).partition,
                offset: (what as ConsumerRecord).offset + 1,
              },
            ]
    // A partition this member no longer owns is the new owner's to commit; its records come again.
    const owned = this.#memberId === undefined ? offsets : offsets.filter((o) => this.#owns(o))
    if (owned.length === 0) return Promise.resolve()
    for (const o of owned) this.#queueCommit(o)
    const partitions = new Set(owned.map(tpKey))
    const committed = new Promise<void>((resolve, reject) => {
      this.#pending.waiters.push({ resolve, reject, partitions })
      this.#scheduleFlush()
    })
    // A commit the application does not await must not become an unhandled rejection that ends
    // the process: its failure reaches the application as a `commitFailed` event instead.
    committed.catch(() => undefined)
    return committed
  }

  /**
   * Stops fetching, commits what was queued, leaves the group and closes the client if the
   * consumer created it. Rejects, after all of that, when the final commit failed; those records
   * will be delivered again.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  // ---- iteration ------------------------------------------------------------------------------

  #serially<T>(take: () => Promise<T>): Promise<T> {
    const result = this.#nextChain.then(take)
    this.#nextChain = result.catch(() => undefined)
    return result
  }

  /** The next record, or (`batch`) every buffered record of the next partition; undefined once closed. */
  async #take(batch: boolean): Promise<ConsumerRecord<V, K>[] | undefined> {
    for (;;) {
      if (this.#closing) return undefined
      const head = this.#buffer[0]
      if (head) {
        const key = tpKey(head)
        const taken = batch ? this.#buffer.filter((r) => tpKey(r) === key) : [head]
        this.#buffer = batch ? this.#buffer.filter((r) => tpKey(r) !== key) : this.#buffer.slice(1)
        const last = taken.at(-1) as ConsumerRecord<V, K>
        this.#yielded.set(key, nextOffsetOf(last))
        return taken
      }
      await this.connect()
      this.#fetching = this.#fetch()
      try {
        await this.#fetching
      } finally {
        this.#fetching = undefined
      }
    }
  }

  async #fetch(): Promise<void> {
    const memberId = this.#memberId as string
    try {
      if (this.#unresolved.size > 0) await this.#resolveStarts()
      if (this.#seeks.size > 0) await this.#sendSeeks(memberId)
    } catch (err) {
      if (this.#closing) return
      if (isRebalance(err) || isForgotten(err)) {
        await (isForgotten(err) ? this.#rejoin(memberId) : this.#heartbeatNow())
        await sleep(REBALANCE_PAUSE_MS, this.#abort.signal)
        return
      }
      throw err
    }
    const batch = this.#takePending()
    const sought = new Set<string>()
    this.#soughtDuringFetch = sought
    try {
      const res = await this.client.fetchGroup<V, K>(
        this.group,
        memberId,
        {
          maxRecords: this.#options.maxRecords,
          maxBytes: this.#options.maxBytes,
          maxWaitMs: this.#options.maxWaitMs,
          ...(batch.offsets.size > 0 && { commit: [...batch.offsets.values()] }),
          signal: this.#abort.signal,
        },
        this.#call,
      )
      this.#committed(batch)
      // Records from a newer generation than this member knows: learn the assignment first.
      if (res.generation > this.#generation) await this.#heartbeatNow()
      const current =
        res.generation > this.#generation ? res.records : res.records.filter((r) => this.#owns(r))
      this.#buffer = current.filter((r) => this.#deliverable(r, sought))
    } catch (err) {
      if (this.#closing) {
        this.#restorePending(batch)
        return
      }
      if (isRebalance(err) || isForgotten(err)) {
        this.#restorePending(batch)
        await (isForgotten(err) ? this.#rejoin(memberId) : this.#heartbeatNow())
        await sleep(REBALANCE_PAUSE_MS, this.#abort.signal)
        return
      }
      this.#commitFailed(batch, err)
      throw err
    } finally {
      this.#soughtDuringFetch = undefined
    }
  }

  /**
   * Whether a fetched record goes to the application: not when its partition was sought while
   * the fetch was out (the broker had not moved yet), is paused (remembered, read again on
   * resume), or waits for `autoOffsetReset` to settle its start.
   */
  #deliverable(record: ConsumerRecord<V, K>, sought: ReadonlySet<string>): boolean {
    const key = tpKey(record)
    if (sought.has(key)) return false
    if (this.#paused.has(key)) {
      if (this.#paused.get(key) === undefined) this.#paused.set(key, nextOffsetOf(record, 0))
      return false
    }
    const unresolved = this.#unresolved.get(key)
    if (unresolved) {
      unresolved.dropped = true
      return false
    }
    return true
  }

  #queueSeek(target: TopicPartitionOffset): void {
    const key = tpKey(target)
    this.#soughtDuringFetch?.add(key)
    if (this.#paused.has(key)) this.#paused.set(key, target)
    else this.#seeks.set(key, target)
  }

  /**
   * Sends queued seeks, after the queued commits: a commit sent after a backward seek would move
   * the broker's position forward again. On a failure worth retrying the seeks stay queued.
   */
  async #sendSeeks(memberId: string): Promise<void> {
    const seeks = [...this.#seeks.values()].filter((s) => this.#owns(s))
    this.#seeks.clear()
    if (seeks.length === 0) return
    try {
      if (this.#pending.offsets.size > 0) {
        await this.#standalone
        await this.#flushStandalone()
      }
      await this.client.seekGroup(
        this.group,
        memberId,
        { generation: this.#generation, offsets: seeks },
        { ...this.#call, signal: this.#abort.signal },
      )
      this.log('debug', `group ${this.group}: sought`, { offsets: seeks })
    } catch (err) {
      const keep = isRebalance(err) || isForgotten(err) || (err as { retriable?: unknown }).retriable === true
      if (keep) for (const s of seeks) if (!this.#seeks.has(tpKey(s))) this.#seeks.set(tpKey(s), s)
      throw err
    }
  }

  /**
   * `autoOffsetReset`: partitions the group never committed start where the option says; those it
   * did resume from the commit (sought back to it only if records fetched meanwhile were dropped).
   */
  async #resolveStarts(): Promise<void> {
    const spec = this.#autoOffsetReset as OffsetSpec
    const committed = new Map<string, number | null>()
    for (const o of await this.client.groupOffsets(this.group, this.#call))
      committed.set(tpKey(o), o.committed)
    for (const [key, { tp, dropped }] of [...this.#unresolved]) {
      const commit = committed.get(key) ?? null
      const offset =
        commit === null
          ? await this.client.offsetFor(tp.topic, tp.partition, spec, this.#call)
          : dropped
            ? commit
            : undefined
      // Revoked while this ran: the new owner settles it.
      if (!this.#unresolved.delete(key) || !this.#owns(tp)) continue
      if (offset !== undefined) this.#queueSeek({ topic: tp.topic, partition: tp.partition, offset })
    }
  }

  /**
   * Records fetched under an older generation for partitions since taken away are dropped: the new
   * owner reads them from the last commit. Any other drop (a seek, a pause, a start still being
   * settled) is followed by a seek that moves the broker back, because the broker moved this
   * member's position past what it delivered, and a later commit would skip a dropped record.
   */
  #owns(tp: TopicPartition): boolean {
    return this.#assignments.some((a) => a.topic === tp.topic && a.partition === tp.partition)
  }

  // ---- commits --------------------------------------------------------------------------------

  #queueCommit(o: TopicPartitionOffset): void {
    const key = tpKey(o)
    const queued = this.#pending.offsets.get(key)
    if (!queued || queued.offset < o.offset) this.#pending.offsets.set(key, { ...o })
  }

  #takePending(): CommitBatch {
    const batch = this.#pending
    this.#pending = { offsets: new Map(), waiters: [] }
    return batch
  }

  #restorePending(batch: CommitBatch): void {
    for (const o of batch.offsets.values()) this.#queueCommit(o)
    this.#pending.waiters.push(...batch.waiters)
  }

  /** Sends queued commits on their own unless a fetch took them first, one request at a time. */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      if (this.#pending.offsets.size === 0 && this.#pending.waiters.length === 0) return
      this.#standalone = this.#standalone.then(() => this.#flushStandalone().catch(() => undefined))
    })
  }

  /**
   * A commit outside the fetch. Refused because the group moved on (a rebalance) or forgot this
   * member (its session ran out, or its coordinator changed), the consumer catches up (a heartbeat,
   * or a join as a new member) and sends again what is still its own: offsets of partitions that
   * went to another member are dropped and their `commit()` calls rejected (`#assign`).
   */
  async #flushStandalone(): Promise<void> {
    let batch = this.#takePending()
    if (batch.offsets.size === 0) {
      for (const w of batch.waiters) w.resolve()
      return
    }
    await this.connect().catch(() => undefined)
    for (let attempt = 1; ; attempt++) {
      const memberId = this.#memberId
      try {
        await this.client.commitOffsets(
          this.group,
          {
            ...(memberId !== undefined && { memberId, generation: this.#generation }),
            offsets: [...batch.offsets.values()],
          },
          this.#call,
        )
        this.#committed(batch)
        return
      } catch (err) {
        const catchUp = isForgotten(err) || isRebalance(err)
        if (!catchUp || memberId === undefined || attempt >= COMMIT_ATTEMPTS || this.#closing) {
          this.#commitFailed(batch, err)
          throw err
        }
        this.#restorePending(batch)
        const rejoined = await (isForgotten(err) ? this.#rejoin(memberId) : this.#heartbeatNow()).then(
          () => undefined,
          (joinError: unknown) => ({ joinError }),
        )
        batch = this.#takePending()
        if (rejoined) {
          this.#commitFailed(batch, rejoined.joinError)
          throw rejoined.joinError
        }
        if (batch.offsets.size === 0) {
          this.#committed(batch)
          return
        }
      }
    }
  }

  #committed(batch: CommitBatch): void {
    for (const w of batch.waiters) w.resolve()
    if (batch.offsets.size > 0)
      this.notify('debug', 'committed', 'commit', { offsets: [...batch.offsets.values()] })
  }

  /** The offsets stay queued (for partitions still owned) and go out with the next fetch or commit. */
  #commitFailed(batch: CommitBatch, error: unknown): void {
    for (const w of batch.waiters) w.reject(error)
    if (batch.offsets.size === 0) return
    const offsets = [...batch.offsets.values()]
    for (const o of offsets) if (this.#memberId === undefined || this.#owns(o)) this.#queueCommit(o)
    this.notify('warn', `commit of group ${this.group} failed`, 'commitFailed', { error, offsets })
  }

  // ---- membership -----------------------------------------------------------------------------

  async #join(): Promise<void> {
    const request = {
      topics: this.topics,
      sessionTimeoutMs: this.#options.sessionTimeoutMs,
      ...(this.#options.autoCommit && { autoCommit: true }),
    }
    // Joining again (the broker forgot this member): ask for what it held back. A broker that
    // predates `owned` refuses the field: join without it there.
    const owned = this.#assignments
    const res =
      owned.length === 0
        ? await this.client.joinGroup(this.group, request, this.#call)
        : await this.client.joinGroup(this.group, { ...request, owned }, this.#call).catch((err: unknown) => {
            if (!(err instanceof InvalidRequestError)) throw err
            return this.client.joinGroup(this.group, request, this.#call)
          })
    this.#memberId = res.memberId
    this.notify('info', `joined group ${this.group}`, 'join', {
      memberId: res.memberId,
      generation: res.generation,
      assignments: res.assignments,
    })
    await this.#assign(res.generation, res.assignments)
    this.#scheduleHeartbeat()
  }

  /**
   * The broker forgot this member (its session ran out, or the group's coordinator changed and the
   * new one never knew it): join as a new member (once). The join's assignment is compared with
   * what this member held, so only the partitions now another member's are revoked; those it gets
   * back keep their queued commits and seeks, sent again under the new membership.
   */
  #rejoin(forgotten: string): Promise<void> {
    if (this.#memberId === forgotten) {
      this.#memberId = undefined
      // Fetched under the old membership; the coordinator that answers the join reads the partitions
      // again from their committed offsets.
      this.#buffer = []
      this.#rejoining = this.connect()
        .then(() => this.#dropOvertaken())
        .finally(() => {
          this.#rejoining = undefined
        })
    }
    return this.#rejoining ?? this.connect().then(() => undefined)
  }

  /**
   * After joining again: a queued offset the group has committed past since (another member held
   * the partition meanwhile and went further) is not sent, or the commit would move it back and
   * those records would come again. Nobody else can commit these partitions now: they are ours.
   */
  async #dropOvertaken(): Promise<void> {
    if (this.#pending.offsets.size === 0) return
    const committed = await this.client.groupOffsets(this.group, this.#call).catch(() => [])
    for (const o of committed) {
      const key = tpKey(o)
      const queued = this.#pending.offsets.get(key)
      if (queued && o.committed !== null && o.committed >= queued.offset) this.#pending.offsets.delete(key)
    }
  }

  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer)
    if (this.#closing) return
    this.#heartbeatTimer = setTimeout(() => void this.#heartbeatNow(), this.#options.heartbeatIntervalMs)
    this.#heartbeatTimer.unref()
  }

  /** One heartbeat now (joined with one already running); adopts a new generation or assignment. */
  #heartbeatNow(): Promise<void> {
    this.#heartbeating ??= this.#heartbeat().finally(() => {
      this.#heartbeating = undefined
      this.#scheduleHeartbeat()
    })
    return this.#heartbeating
  }

  async #heartbeat(): Promise<void> {
    const memberId = this.#memberId
    if (memberId === undefined || this.#closing) return
    try {
      // A heartbeat that cannot get through within one interval is overtaken by the next one.
      const retry = { ...this.#call?.retry, maxElapsedMs: this.#options.heartbeatIntervalMs }
      const res = await this.client.heartbeat(this.group, memberId, { retry })
      if (this.#memberId === memberId) await this.#assign(res.generation, res.assignments)
    } catch (err) {
      if (isForgotten(err) && !this.#closing) await this.#rejoin(memberId).catch(() => undefined)
      // Other failures: the next heartbeat tries again; the session timeout is the judge.
    }
  }

  async #assign(generation: number, assignments: TopicPartition[]): Promise<void> {
    const before = new Set(this.#assignments.map(tpKey))
    const after = new Set(assignments.map(tpKey))
    const revoked = this.#assignments.filter((a) => !after.has(tpKey(a)))
    const added = assignments.filter((a) => !before.has(tpKey(a)))
    this.#generation = generation
    this.#assignments = assignments.map((a) => ({ topic: a.topic, partition: a.partition }))
    if (revoked.length > 0 || added.length > 0) {
      this.notify('info', `group ${this.group} rebalanced`, 'rebalance', {
        generation,
        assigned: added,
        revoked,
      })
    }
    if (revoked.length > 0) {
      const lost = new Set(revoked.map(tpKey))
      this.#buffer = this.#buffer.filter((r) => !lost.has(tpKey(r)))
      for (const key of lost) {
        this.#yielded.delete(key)
        this.#pending.offsets.delete(key)
        this.#seeks.delete(key)
        this.#paused.delete(key)
        this.#unresolved.delete(key)
      }
      this.#rejectCommitsOf(lost, generation)
      await this.#hooks.onRevoke?.(revoked)
    }
    if (this.#autoOffsetReset !== undefined) {
      for (const tp of added) this.#unresolved.set(tpKey(tp), { tp, dropped: false })
    }
    if (added.length > 0) await this.#hooks.onAssign?.(added)
  }

  /** Queued commits of partitions another member now owns will not be made: their callers learn it. */
  #rejectCommitsOf(lost: ReadonlySet<string>, generation: number): void {
    const waiting: Deferred[] = []
    for (const w of this.#pending.waiters) {
      const moved = [...w.partitions].filter((key) => lost.has(key))
      if (moved.length === 0) {
        waiting.push(w)
        continue
      }
      w.reject(
        new StaleGenerationError(
          `group ${this.group} moved ${moved.map((k) => k.replace('\u0000', '/')).join(', ')} to another member in generation ${generation} before this commit was made; those records are delivered again`,
          { group: this.group, currentGeneration: generation },
        ),
      )
    }
    this.#pending.waiters = waiting
  }

  async #close(): Promise<void> {
    clearTimeout(this.#heartbeatTimer)
    this.#abort.abort()
    await this.#joining?.catch(() => undefined)
    await this.#fetching?.catch(() => undefined)
    await this.#heartbeating?.catch(() => undefined)
    await this.#standalone
    let failure: unknown
    if (this.#memberId !== undefined) {
      try {
        if (this.#assignments.length > 0) await this.#hooks.onRevoke?.(this.#assignments)
        await this.#flushStandalone()
      } catch (err) {
        failure = err
      }
      await this.client
        .leaveGroup(this.group, this.#memberId, { retry: { maxAttempts: 2 } })
        .catch(() => undefined)
      this.#memberId = undefined
    }
    for (const w of this.#takePending().waiters) w.reject(new ClientClosedError('consumer'))
    this.#buffer = []
    if (this.#ownsClient) await this.client.close()
    if (failure !== undefined) throw failure
  }
}

/** Where reading goes on after `record` (`step` 0: the record itself, to read it again). */
function nextOffsetOf(record: ConsumerRecord, step = 1): TopicPartitionOffset {
  return { topic: record.topic, partition: record.partition, offset: record.offset + step }
}

function tpKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`
}

function isRebalance(err: unknown): boolean {
  return err instanceof StaleGenerationError || err instanceof RebalanceInProgressError
}

function isForgotten(err: unknown): boolean {
  return err instanceof MemberNotFoundError || err instanceof GroupNotFoundError
}
