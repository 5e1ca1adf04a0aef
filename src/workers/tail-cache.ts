/**
 * The newest records of each partition, in the HTTP thread, for group members waiting at the end
 * of the log.
 *
 * Why: a group member's long poll is woken by the state event that moves the high watermark, and
 * its read was one more round trip to the owner thread (a message each way, each waking a thread:
 * ~0.4 ms at the median on 2 busy cores, bench/RESULTS.md "Latency"). The owner now pushes the
 * records that just became readable with that event when a group reader waits at the tail
 * (PartitionHost `#tail`), and a `group` fetch that starts inside them is answered here.
 *
 * Invariants: an entry holds records below a high watermark the owner reported, which no
 * truncation takes back (the owner pushes only on a single broker or as leader); it is dropped
 * when a later state shows the high watermark below its end, the log start past its start, the
 * leader epoch changed or the partition offline, and when the partition closes. A fetch it cannot
 * answer whole from `offset` goes to the owner as before. HTTP thread only.
 */
import { partitionKey } from './partition-host.js'
import { asBuffer } from './partition-worker.js'
import type { FetchRequest, FetchResult, PartitionState } from './worker-messages.js'

/** Entries are joined while they stay under this; a larger one replaces the older. */
const MAX_ENTRY_BYTES = 128 * 1024
/**
 * All entries together: past it the least recently pushed partitions are forgotten (their readers,
 * if any, read from the owner as before), so thousands of partitions cannot pin their tails.
 */
export const MAX_CACHE_BYTES = 16 * 1024 * 1024

interface TailEntry {
  from: number
  /** Records [from, from + ends.length) back to back in the group format. */
  body: Buffer
  ends: number[]
  storedEnds: number[]
  leaderEpoch: number | undefined
  highWatermark: number
  logStartOffset: number
}

export class TailCache {
  /** In the order they were last pushed to (a Map keeps insertion order): the oldest go first. */
  readonly #entries = new Map<string, TailEntry>()
  readonly #maxBytes: number
  #bytes = 0

  constructor(maxBytes = MAX_CACHE_BYTES) {
    this.#maxBytes = maxBytes
  }

  /** Bytes of records held. */
  get bytes(): number {
    return this.#bytes
  }

  /** Takes the pushed tail off `state` (the broker keeps states, not record bytes) and keeps it. */
  update(state: PartitionState): void {
    const key = partitionKey(state.topic, state.partition)
    const tail = state.tail
    state.tail = undefined
    const entry = this.#entries.get(key)
    if (entry && !this.#stillValid(entry, state)) this.#delete(key, entry)
    if (tail === undefined || state.offline) return
    const body = asBuffer(tail.body)
    const kept = this.#entries.get(key)
    const end = kept ? kept.from + kept.ends.length : -1
    if (kept && end === tail.from && kept.body.length + body.length <= MAX_ENTRY_BYTES) {
      const base = kept.body.length
      const storedBase = kept.storedEnds.at(-1) as number
      kept.body = Buffer.concat([kept.body, body])
      for (const e of tail.ends) kept.ends.push(base + e)
      for (const e of tail.storedEnds) kept.storedEnds.push(storedBase + e)
      kept.highWatermark = state.highWatermark
      kept.logStartOffset = state.logStartOffset
      this.#bytes += body.length
      this.#entries.delete(key) // to the end of the order: pushed to last
      this.#entries.set(key, kept)
    } else {
      if (kept) this.#delete(key, kept)
      this.#entries.set(key, {
        from: tail.from,
        body,
        ends: tail.ends,
        storedEnds: tail.storedEnds,
        leaderEpoch: state.leaderEpoch,
        highWatermark: state.highWatermark,
        logStartOffset: state.logStartOffset,
      })
      this.#bytes += body.length
    }
    for (const [oldest, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break
      this.#delete(oldest, e)
    }
  }

  #delete(key: string, entry: TailEntry): void {
    this.#entries.delete(key)
    this.#bytes -= entry.body.length
  }

  #stillValid(entry: TailEntry, state: PartitionState): boolean {
    return (
      !state.offline &&
      state.leaderEpoch === entry.leaderEpoch &&
      state.highWatermark >= entry.from + entry.ends.length &&
      state.logStartOffset <= entry.from
    )
  }

  drop(topic: string, partition: number): void {
    const key = partitionKey(topic, partition)
    const entry = this.#entries.get(key)
    if (entry) this.#delete(key, entry)
  }

  /**
   * A `group` fetch from the cache, within maxRecords and maxBytes (the first record always, as
   * the owner does), or undefined when the cache does not hold `offset`.
   */
  read(req: FetchRequest): FetchResult | undefined {
    if (req.format !== 'group') return undefined
    const entry = this.#entries.get(partitionKey(req.topic, req.partition))
    if (entry === undefined) return undefined
    const first = req.offset - entry.from
    if (first < 0 || first >= entry.ends.length) return undefined
    const before = (ends: number[]) => (first === 0 ? 0 : (ends[first - 1] as number))
    const storedStart = before(entry.storedEnds)
    let last = first
    const limit = Math.min(entry.ends.length, first + Math.max(1, req.maxRecords))
    while (last + 1 < limit && (entry.storedEnds[last + 1] as number) - storedStart <= req.maxBytes) last++
    return {
      body: entry.body.subarray(before(entry.ends), entry.ends[last] as number),
      recordCount: last - first + 1,
      nextOffset: entry.from + last + 1,
      highWatermark: entry.highWatermark,
      logStartOffset: entry.logStartOffset,
      bytes: (entry.storedEnds[last] as number) - storedStart,
    }
  }
}
