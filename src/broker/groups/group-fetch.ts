/**
 * The read half of a group fetch: records from a member's partitions, from the group's position
 * on each, taking turns between partitions, with poison records moved aside. Main thread.
 *
 * Positions. A partition's position is where its current owner reads next. It starts at the
 * committed offset (or, with none, the group's reset policy: earliest by default), moves past every
 * record delivered, and is forgotten whenever the partition changes owner, so the next owner starts
 * again from the committed offset: what was delivered but not committed is delivered again
 * (at-least-once). A position below the log start (retention) moves up to it.
 *
 * Fairness. Partitions are read in turn from the member's cursor, each with what is left of the
 * record and byte budget, and the cursor moves past the last partition that gave records, so a
 * partition with a deep backlog cannot keep the others waiting beyond one fetch.
 *
 * Response. Each partition is read in the `group` format: the records back to back, each already a
 * complete `{topic, partition, offset, timestamp, key, value, headers}` map. The body is those bytes
 * behind a map header, `"generation"`, `"records"` and an array header; nothing is decoded.
 */
import {
  NotLeaderError,
  OffsetOutOfRangeError,
  PartitionNotFoundError,
  TopicNotFoundError,
} from '../../errors.js'
import { arrayHeader, uintSize, wireUnpackr, writeUint } from '../../wire/record-codec.js'
import type { PartitionState } from '../../workers/worker-messages.js'
import type { Broker, ProduceRecord } from '../broker.js'
import { type TopicPartitionRef, tpKey } from './assignors.js'
import { DeliveryCounts } from './delivery-counts.js'
import type { Group, Member } from './group-state.js'
import type { GroupConfig, OffsetStore } from './offset-store.js'
import {
  abortableSleep,
  type PartitionBounds,
  RETRY_AFTER_FAILURE_MS,
  type RemotePartitions,
} from './remote-partitions.js'

/** Poison records moved per step: one produce to the dead-letter topic and one commit. */
const DEAD_LETTER_BATCH = 500

/** Headers a dead-lettered record carries, naming where it came from. */
export const DeadLetterHeaders = {
  topic: 'x-origin-topic',
  partition: 'x-origin-partition',
  offset: 'x-origin-offset',
  timestamp: 'x-origin-timestamp',
  deliveries: 'x-delivery-count',
  group: 'x-dead-letter-group',
} as const

export interface GroupLogger {
  warn(details: object, message: string): void
  debug?(details: object, message: string): void
}

export interface GroupReadLimits {
  maxRecords: number
  maxBytes: number
}

export interface GroupReadResult {
  /** The generation the records were read under. */
  generation: number
  count: number
  bodies: Buffer[]
  /** Per partition read, the offset after its last delivered record (what auto ack commits). */
  delivered: Array<TopicPartitionRef & { offset: number }>
}

const GENERATION_KEY = Buffer.from([0xaa, ...Buffer.from('generation')])
const RECORDS_KEY = Buffer.from([0xa7, ...Buffer.from('records')])

/** `{generation, records: [...]}` around record bodies written back to back. */
export function encodeGroupFetch(generation: number, count: number, bodies: readonly Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(1 + GENERATION_KEY.length + uintSize(generation) + RECORDS_KEY.length)
  let pos = 0
  head[pos++] = 0x82
  pos += GENERATION_KEY.copy(head, pos)
  pos = writeUint(head, pos, generation)
  RECORDS_KEY.copy(head, pos)
  return Buffer.concat([head, arrayHeader(count), ...bodies])
}

interface DecodedRecord {
  offset: number
  timestamp: number
  key: unknown
  value: unknown
  headers: Record<string, string | Uint8Array> | undefined
}

/**
 * Writes dead-letter copies, acks=all. On one broker a produce here; in a cluster the copies go to
 * the leaders of the dead-letter topic's partitions, which need not be this broker.
 */
export type DeadLetterWriter = (topic: string, records: ProduceRecord[]) => Promise<unknown>

export class GroupReader {
  readonly #broker: Broker
  readonly #store: OffsetStore
  readonly #logger: GroupLogger | undefined
  /** Cluster mode: partitions without a replica here are read from their leaders. */
  readonly #remote: RemotePartitions | undefined
  readonly #writeDeadLetters: DeadLetterWriter

  constructor(
    broker: Broker,
    store: OffsetStore,
    logger?: GroupLogger,
    remote?: RemotePartitions,
    writeDeadLetters?: DeadLetterWriter,
  ) {
    this.#broker = broker
    this.#store = store
    this.#logger = logger
    this.#remote = remote
    this.#writeDeadLetters =
      writeDeadLetters ??
      ((topic, records) => broker.produce(topic, records, { acks: 'all', internal: true }))
  }

  /** The member's partitions this broker holds no replica of (read from their leaders). */
  remoteAssignments(member: Member): TopicPartitionRef[] {
    const remote = this.#remote
    return remote ? member.assignments.filter((tp) => remote.isRemote(tp)) : []
  }

  /**
   * Resolves when a partition of the member read from its leader has a record at its position
   * (the leader's long poll), or its wait ran out. Only for a member with such partitions.
   */
  async awaitRemoteData(group: Group, member: Member, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    const remote = this.#remote
    if (!remote) return
    const parts = this.remoteAssignments(member)
    await Promise.race(
      parts.map((tp) => {
        const position = group.positions.get(tpKey(tp))
        // Never read yet (its leader could not be reached): read again soon.
        if (position === undefined) return abortableSleep(RETRY_AFTER_FAILURE_MS, signal)
        return remote.awaitData(tp, position, maxWaitMs, signal)
      }),
    )
  }

  /** The partition's state, or undefined when it no longer exists (its topic was deleted). */
  #state(tp: TopicPartitionRef): PartitionState | undefined {
    try {
      return this.#broker.partitionState(tp.topic, tp.partition)
    } catch (err) {
      if (err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError) return undefined
      throw err
    }
  }

  /** Where the group reads `tp` next; resolved from the committed offset once, then kept. */
  position(group: Group, tp: TopicPartitionRef, state: PartitionBounds): number {
    const key = tpKey(tp)
    const latest = this.#store.config(group.name).offsetReset === 'latest'
    let position =
      group.positions.get(key) ??
      this.#store.committed(group.name, tp.topic, tp.partition) ??
      (latest ? state.highWatermark : state.logStartOffset)
    if (position < state.logStartOffset) position = state.logStartOffset
    // Past the end: the log was truncated or the topic recreated; start over per the reset policy.
    // Only where this end is the log's end: a follower's replica (one still catching up after a
    // restart, say) or a leader's bounds learned at an earlier read can lie behind a committed
    // offset, and resetting there re-delivered everything the group had committed.
    if (position > state.logEndOffset && this.#knowsLogEnd(state))
      position = latest ? state.highWatermark : state.logStartOffset
    group.positions.set(key, position)
    return position
  }

  /** A single broker's partition, or a replica that leads it: its log end is the partition's. */
  #knowsLogEnd(state: PartitionBounds): boolean {
    return this.#remote === undefined || (state as Partial<PartitionState>).replicaRole === 'leader'
  }

  /** Whether any of the member's partitions has a record at or past its position (synchronous). */
  hasData(group: Group, member: Member): boolean {
    for (const tp of member.assignments) {
      if (this.#remote?.isRemote(tp)) continue
      const state = this.#state(tp)
      if (state && !state.offline && this.position(group, tp, state) < state.highWatermark) return true
    }
    return false
  }

  /** One pass over the member's partitions within the limits. Run under `group.serialize`. */
  async read(group: Group, member: Member, limits: GroupReadLimits): Promise<GroupReadResult> {
    const result: GroupReadResult = { generation: group.generation, count: 0, bodies: [], delivered: [] }
    const parts = member.assignments
    let recordsLeft = limits.maxRecords
    let bytesLeft = Math.min(limits.maxBytes, this.#broker.config.maxFetchBytes)
    let nextCursor = member.cursor
    for (let i = 0; i < parts.length && recordsLeft > 0 && bytesLeft > 0; i++) {
      const index = (member.cursor + i) % parts.length
      const tp = parts[index] as TopicPartitionRef
      const got = await this.#readPartition(group, member, tp, recordsLeft, bytesLeft)
      if (!got) continue
      result.count += got.count
      result.bodies.push(got.body)
      result.delivered.push({ ...tp, offset: got.nextOffset })
      recordsLeft -= got.count
      bytesLeft -= got.bytes
      nextCursor = index + 1
    }
    member.cursor = parts.length === 0 ? 0 : nextCursor % parts.length
    return result
  }

  async #readPartition(
    group: Group,
    member: Member,
    tp: TopicPartitionRef,
    maxRecords: number,
    maxBytes: number,
  ): Promise<{ count: number; body: Buffer; nextOffset: number; bytes: number } | undefined> {
    if (this.#remote?.isRemote(tp))
      return this.#readRemote(group, member, tp, this.#remote, maxRecords, maxBytes)
    const key = tpKey(tp)
    const state = this.#state(tp)
    if (!state || state.offline) return undefined
    let position = this.position(group, tp, state)
    if (position >= state.highWatermark) return undefined
    position = await this.#moveAsidePoison(group, tp, position, state.highWatermark)
    if (position >= state.highWatermark || group.owners.get(key) !== member.memberId) return undefined
    let fetched: Awaited<ReturnType<Broker['fetch']>>
    try {
      fetched = await this.#broker.fetch(
        tp.topic,
        tp.partition,
        { offset: position, maxRecords, maxBytes, maxWaitMs: 0 },
        'group',
      )
    } catch (err) {
      if (err instanceof OffsetOutOfRangeError) {
        // Retention moved the log start meanwhile: the next pass re-resolves the position.
        group.positions.delete(key)
        return undefined
      }
      if (err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError) return undefined
      throw err
    }
    // Reassigned while reading: the new owner starts from the committed offset, so drop these.
    if (fetched.recordCount === 0 || group.owners.get(key) !== member.memberId) return undefined
    group.positions.set(key, fetched.nextOffset)
    await this.#recordDelivery(group, tp, position, fetched.nextOffset)
    return {
      count: fetched.recordCount,
      body: fetched.body,
      nextOffset: fetched.nextOffset,
      bytes: fetched.bytes,
    }
  }

  /**
   * A partition read from its leader, as `#readPartition` reads a local one. A leader that cannot
   * answer now (moving, restarting) gives nothing this pass: the member sees no error, and the
   * partition is read again on the next pass, from the new leader once the metadata names it.
   */
  async #readRemote(
    group: Group,
    member: Member,
    tp: TopicPartitionRef,
    remote: RemotePartitions,
    maxRecords: number,
    maxBytes: number,
  ): Promise<{ count: number; body: Buffer; nextOffset: number; bytes: number } | undefined> {
    const key = tpKey(tp)
    let got: Awaited<ReturnType<RemotePartitions['read']>>
    let position: number
    try {
      let bounds = remote.known(tp)
      const wanted = group.positions.get(key) ?? this.#store.committed(group.name, tp.topic, tp.partition)
      // Unknown or behind where the group stands: ask the leader rather than clamp to stale bounds.
      if (!bounds || (wanted !== undefined && wanted > bounds.highWatermark))
        bounds = await remote.refresh(tp)
      position = this.position(group, tp, bounds)
      position = await this.#moveAsidePoison(group, tp, position, bounds.highWatermark)
      if (group.owners.get(key) !== member.memberId) return undefined
      got = await remote.read(tp, { offset: position, maxRecords, maxBytes })
    } catch (err) {
      // Retention moved the log start, or the log was cut: the next pass re-resolves the position.
      if (err instanceof OffsetOutOfRangeError) group.positions.delete(key)
      else if (!(err instanceof TopicNotFoundError || err instanceof PartitionNotFoundError)) {
        this.#logger?.debug?.(
          { err, group: group.name, ...tp },
          'partition leader did not answer the group read',
        )
      }
      return undefined
    }
    if (got.recordCount === 0 || group.owners.get(key) !== member.memberId) return undefined
    group.positions.set(key, got.nextOffset)
    await this.#recordDelivery(group, tp, position, got.nextOffset)
    return { count: got.recordCount, body: got.body, nextOffset: got.nextOffset, bytes: got.bytes }
  }

  /**
   * A group partition's delivery counts: in memory, or, the first time this coordinator reads it
   * (after a failover, say), as persisted, less what was committed since.
   */
  #countsOf(group: Group, tp: TopicPartitionRef): DeliveryCounts {
    const key = tpKey(tp)
    const known = group.deliveries.get(key)
    if (known) return known
    const counts = new DeliveryCounts(this.#store.deliveries(group.name, tp))
    const committed = this.#store.committed(group.name, tp.topic, tp.partition)
    if (committed !== undefined) counts.prune(committed)
    group.deliveries.set(key, counts)
    return counts
  }

  /**
   * Counts a run of deliveries. A group with `maxDeliveries` persists its counts whenever a run
   * starts (a redelivery: a new owner, a seek, a nack), so a coordinator after a failover goes on
   * from them; a write that fails only loses those counts (the record gets more tries).
   */
  async #recordDelivery(group: Group, tp: TopicPartitionRef, from: number, to: number): Promise<void> {
    const counts = this.#countsOf(group, tp)
    if (!counts.record(from, to) || this.#store.config(group.name).maxDeliveries === undefined) return
    await this.#store.saveDeliveries(group.name, tp, counts.ranges()).catch((err: unknown) => {
      this.#logger?.warn({ err, group: group.name, ...tp }, 'could not persist delivery counts')
    })
  }

  /**
   * Poison records: the records from `position` on that were delivered `maxDeliveries` times without
   * being committed go to the dead-letter topic, and the group commits past them. Only when
   * `position` is the committed offset: every earlier record is acknowledged, so committing past
   * these acknowledges nothing else. (Deliveries restart at the committed offset and move forward,
   * so the records delivered most often are always the first uncommitted ones.)
   */
  async #moveAsidePoison(
    group: Group,
    tp: TopicPartitionRef,
    position: number,
    highWatermark: number,
  ): Promise<number> {
    const config = this.#store.config(group.name)
    if (config.maxDeliveries === undefined) return position
    const counts = this.#countsOf(group, tp)
    const committed = this.#store.committed(group.name, tp.topic, tp.partition)
    if (committed !== undefined && committed !== position) return position
    const end = counts.firstBelow(
      position,
      Math.min(highWatermark, position + DEAD_LETTER_BATCH),
      config.maxDeliveries,
    )
    if (end === position) return position
    const movedTo = await this.#deadLetter(group, tp, position, end, counts, config)
    if (movedTo === undefined) return position
    await this.#store.commit(group.name, [{ ...tp, offset: movedTo }])
    counts.prune(movedTo)
    group.positions.set(tpKey(tp), movedTo)
    return movedTo
  }

  /**
   * The poison records to copy, in the partition format: from this broker when it leads the
   * partition, else from the leader (a follower replica here serves the group format only).
   */
  async #readToCopy(
    tp: TopicPartitionRef,
    params: { offset: number; maxRecords: number; maxBytes: number; maxWaitMs: number },
  ): Promise<Buffer> {
    const remote = this.#remote
    if (remote?.isRemote(tp)) return remote.fetchBody(tp, params)
    try {
      return (await this.#broker.fetch(tp.topic, tp.partition, params)).body
    } catch (err) {
      if (!(err instanceof NotLeaderError) || !remote) throw err
      return remote.fetchBody(tp, params)
    }
  }

  /** Copies `[from, to)` to the dead-letter topic; the offset after the last copied, or undefined. */
  async #deadLetter(
    group: Group,
    tp: TopicPartitionRef,
    from: number,
    to: number,
    counts: DeliveryCounts,
    config: GroupConfig,
  ): Promise<number | undefined> {
    const where = { group: group.name, topic: tp.topic, partition: tp.partition, from, to }
    try {
      const params = {
        offset: from,
        maxRecords: to - from,
        maxBytes: this.#broker.config.maxFetchBytes,
        maxWaitMs: 0,
      }
      const body = await this.#readToCopy(tp, params)
      const records = (wireUnpackr.unpack(body) as { records: DecodedRecord[] }).records.filter(
        (r) => r.offset < to,
      )
      const last = records[records.length - 1]
      if (last === undefined) return undefined
      if (config.deadLetterTopic === undefined) {
        this.#logger?.warn(
          where,
          'poison records dropped: the group has maxDeliveries but no deadLetterTopic',
        )
        return last.offset + 1
      }
      const copies = records.map((r) => ({
        key: r.key,
        value: r.value,
        headers: {
          ...r.headers,
          [DeadLetterHeaders.topic]: tp.topic,
          [DeadLetterHeaders.partition]: String(tp.partition),
          [DeadLetterHeaders.offset]: String(r.offset),
          [DeadLetterHeaders.timestamp]: String(r.timestamp),
          [DeadLetterHeaders.deliveries]: String(counts.count(r.offset)),
          [DeadLetterHeaders.group]: group.name,
        },
      }))
      await this.#writeDeadLetters(config.deadLetterTopic, copies)
      return last.offset + 1
    } catch (err) {
      // The dead-letter topic is gone or refuses writes: keep delivering rather than lose records.
      this.#logger?.warn({ ...where, err }, 'could not move poison records to the dead-letter topic')
      return undefined
    }
  }
}
