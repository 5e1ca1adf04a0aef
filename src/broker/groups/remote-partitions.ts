/**
 * Cluster mode: the partitions a group's coordinator holds no replica of are read from their
 * leaders over HTTP, so groups work for any replication factor. Main thread.
 *
 * The coordinator asks the leader's public partition fetch (as the inter-broker principal, with the
 * replica client's TLS), which answers only records below the leader's high watermark, so a group
 * never sees what a failover could still take back. The answer's records are copied into the group
 * format byte for byte (`0x85 "offset" …` becomes `0x87 "topic" … "partition" … "offset" …`), as
 * the local read does; only their boundaries are found by decoding.
 *
 * The leader's bounds (log start, high watermark) are remembered from each answer: positions are
 * resolved against them, commits are checked against them, and lag is reported from them (so lag
 * of a partition led elsewhere is as of the group's last read of it, or at most a few seconds old).
 */
import { InternalError, OffsetOutOfRangeError } from '../../errors.js'
import { groupRecordPrefix, wireUnpackr } from '../../wire/record-codec.js'
import { type TopicPartitionRef, tpKey } from './assignors.js'

/** What the coordinator needs of the cluster: where a partition is, and its leader's fetch. */
export interface PartitionLeaders {
  /** True when this broker holds no replica of the partition, so a group reads it from its leader. */
  isRemote(topic: string, partition: number): boolean
  /** The leader's offset lookup: its log start, its high watermark, or the first record at a time. */
  listOffset(topic: string, partition: number, at: 'earliest' | 'latest' | number): Promise<number>
  /** The leader's partition fetch body `{records, nextOffset, highWatermark, logStartOffset}`. */
  fetch(
    topic: string,
    partition: number,
    params: { offset: number; maxRecords: number; maxBytes: number; maxWaitMs: number },
    signal?: AbortSignal,
  ): Promise<Buffer>
}

export interface PartitionBounds {
  logStartOffset: number
  highWatermark: number
  /** For a partition read from its leader, its high watermark: nothing past it can be read. */
  logEndOffset: number
}

export interface RemoteRead {
  /** The records in the group format, back to back. */
  body: Buffer
  recordCount: number
  nextOffset: number
  bytes: number
}

/** `0x84 "records" 0xdd <u32 count>`: how every partition fetch body begins (record-codec.ts). */
const BODY_HEAD = Buffer.from([0x84, 0xa7, ...Buffer.from('records'), 0xdd])
const RECORDS_START = BODY_HEAD.length + 4

/** The coordinator's reads of partitions it holds no replica of, and their leaders' last bounds. */
export class RemotePartitions {
  readonly #leaders: PartitionLeaders
  readonly #bounds = new Map<string, PartitionBounds>()
  /** When each partition's bounds were last learned, and the background refreshes in flight. */
  readonly #learnedAt = new Map<string, number>()
  readonly #refreshing = new Set<string>()
  /** When a read of each partition last failed for another reason than its bounds. */
  readonly #failedAt = new Map<string, number>()
  readonly #prefixes = new Map<string, Buffer>()

  constructor(leaders: PartitionLeaders) {
    this.#leaders = leaders
  }

  isRemote(tp: TopicPartitionRef): boolean {
    return this.#leaders.isRemote(tp.topic, tp.partition)
  }

  /** The leader's offset lookup, for partitions this broker does not lead (offset resets). */
  listOffset(tp: TopicPartitionRef, at: 'earliest' | 'latest' | number): Promise<number> {
    return this.#leaders.listOffset(tp.topic, tp.partition, at)
  }

  /** The leader's bounds as of the last answer; undefined before the first. */
  known(tp: TopicPartitionRef): PartitionBounds | undefined {
    return this.#bounds.get(tpKey(tp))
  }

  /**
   * For descriptions and lag (synchronous): the last bounds known, asked again in the background
   * when older than `maxAgeMs`, so the lag of a group nobody reads still moves.
   */
  recent(tp: TopicPartitionRef, maxAgeMs: number): PartitionBounds | undefined {
    const key = tpKey(tp)
    const known = this.#bounds.get(key)
    const age = Date.now() - (this.#learnedAt.get(key) ?? 0)
    if ((!known || age > maxAgeMs) && !this.#refreshing.has(key)) {
      this.#refreshing.add(key)
      this.refresh(tp)
        .catch(() => undefined)
        .finally(() => this.#refreshing.delete(key))
    }
    return known
  }

  /** Asks the leader for its bounds now (a one-record read from the start). */
  async refresh(tp: TopicPartitionRef): Promise<PartitionBounds> {
    try {
      await this.read(tp, { offset: 0, maxRecords: 1, maxBytes: 1 })
    } catch (err) {
      // Retention moved the start past 0: the refusal carries the bounds (remembered by fetchBody).
      if (!(err instanceof OffsetOutOfRangeError)) throw err
    }
    const bounds = this.#bounds.get(tpKey(tp))
    if (!bounds) throw new InternalError(`the leader of ${tp.topic}/${tp.partition} gave no bounds`)
    return bounds
  }

  /** The leader's partition fetch body, as is; remembers the bounds it (or its refusal) names. */
  async fetchBody(
    tp: TopicPartitionRef,
    params: { offset: number; maxRecords: number; maxBytes: number; maxWaitMs: number },
    signal?: AbortSignal,
  ): Promise<Buffer> {
    try {
      const body = await this.#leaders.fetch(tp.topic, tp.partition, params, signal)
      if (body.length < RECORDS_START || !body.subarray(0, BODY_HEAD.length).equals(BODY_HEAD)) {
        throw new InternalError(`the leader of ${tp.topic}/${tp.partition} answered an unknown body`)
      }
      return body
    } catch (err) {
      if (err instanceof OffsetOutOfRangeError) {
        const d = err.details as { logStartOffset?: unknown; highWatermark?: unknown } | undefined
        if (typeof d?.logStartOffset === 'number' && typeof d.highWatermark === 'number') {
          this.#remember(tp, d.logStartOffset, d.highWatermark)
        }
      }
      throw err
    }
  }

  /** Records from `offset` in the group format (no wait: the long poll waits in `awaitData`). */
  async read(
    tp: TopicPartitionRef,
    params: { offset: number; maxRecords: number; maxBytes: number },
  ): Promise<RemoteRead> {
    let body: Buffer
    try {
      body = await this.fetchBody(tp, { ...params, maxWaitMs: 0 })
      this.#failedAt.delete(tpKey(tp))
    } catch (err) {
      if (!(err instanceof OffsetOutOfRangeError)) this.#failedAt.set(tpKey(tp), Date.now())
      throw err
    }
    const count = body.readUInt32BE(BODY_HEAD.length)
    const region = body.subarray(RECORDS_START)
    const spans: Array<[number, number]> = []
    const tail: unknown[] = []
    wireUnpackr.unpackMultiple(region, (value: unknown, start?: number, end?: number) => {
      if (spans.length < count) spans.push([start ?? 0, end ?? 0])
      else tail.push(value)
    })
    // The tail is "nextOffset" n "highWatermark" n "logStartOffset" n.
    const field = (name: string) => tail[tail.indexOf(name) + 1]
    const nextOffset = field('nextOffset')
    const highWatermark = field('highWatermark')
    const logStartOffset = field('logStartOffset')
    if (
      typeof nextOffset !== 'number' ||
      typeof highWatermark !== 'number' ||
      typeof logStartOffset !== 'number'
    ) {
      throw new InternalError(`the leader of ${tp.topic}/${tp.partition} answered without its bounds`)
    }
    this.#remember(tp, logStartOffset, highWatermark)
    const prefix = this.#prefix(tp)
    const parts: Buffer[] = []
    let bytes = 0
    for (const [start, end] of spans) {
      // A record map `0x85 "offset" …` gains topic and partition: `0x87 <prefix> "offset" …`.
      parts.push(GROUP_MAP_HEADER, prefix, region.subarray(start + 1, end))
      bytes += end - start
    }
    return { body: Buffer.concat(parts), recordCount: spans.length, nextOffset, bytes }
  }

  /**
   * Resolves once the leader has a record at `offset` or `maxWaitMs` passed (its long poll), or
   * shortly after a failure (the leader is moving), so the caller reads again.
   */
  async awaitData(
    tp: TopicPartitionRef,
    offset: number,
    maxWaitMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    // The last read failed (the leader moving, or refusing a large read): do not spin on a leader
    // that answers this small wait but not the read.
    const failedAt = this.#failedAt.get(tpKey(tp))
    if (failedAt !== undefined && Date.now() - failedAt < RETRY_AFTER_FAILURE_MS) {
      return abortableSleep(RETRY_AFTER_FAILURE_MS, signal)
    }
    try {
      await this.fetchBody(tp, { offset, maxRecords: 1, maxBytes: 1, maxWaitMs }, signal)
    } catch {
      if (!signal.aborted) await abortableSleep(RETRY_AFTER_FAILURE_MS, signal)
    }
  }

  /** The partitions of a deleted topic are forgotten. */
  forgetTopic(topic: string): void {
    for (const map of [this.#bounds, this.#prefixes, this.#learnedAt, this.#failedAt]) {
      for (const key of [...map.keys()]) if (key.startsWith(`${topic}\u0000`)) map.delete(key)
    }
  }

  #remember(tp: TopicPartitionRef, logStartOffset: number, highWatermark: number): void {
    this.#bounds.set(tpKey(tp), { logStartOffset, highWatermark, logEndOffset: highWatermark })
    this.#learnedAt.set(tpKey(tp), Date.now())
  }

  #prefix(tp: TopicPartitionRef): Buffer {
    const key = tpKey(tp)
    let prefix = this.#prefixes.get(key)
    if (!prefix) {
      prefix = groupRecordPrefix(tp.topic, tp.partition)
      this.#prefixes.set(key, prefix)
    }
    return prefix
  }
}

const GROUP_MAP_HEADER = Buffer.from([0x87])

/** A leader that failed (moving, restarting) is asked again after this long, not in a tight loop. */
export const RETRY_AFTER_FAILURE_MS = 250

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}
