/**
 * The newest batches a partition leader appended, kept in memory so that a reader at the tail is
 * answered without the file (PartitionLog.read). A consumer that keeps up asks for the records that
 * just passed the high watermark; from the file each such fetch cost an index lookup, a 16 KiB
 * header-scan window, a header object per batch scanned and two preads (the largest allocation
 * site of the broker at 1,000 e2e records/s; bench/micro/tail-read.mjs: 2.4 vs 11.7 µs a read).
 *
 * Invariants: a partition's batches are a suffix of its active segment, in offset order, ending
 * at its log end (PartitionLog clears them on roll, truncation, a follower append and offline);
 * at most `limitBytes` a partition, and at most the budget's bound across the partitions of a
 * thread: past it, the partitions that appended least recently give theirs up, so many quiet
 * partitions cannot hold memory that the busy ones need.
 * Thread: the partition's owner thread. The default budget is module state, one per thread.
 */
import { BASE_OFFSET_OFFSET, LAST_OFFSET_DELTA_OFFSET, readInt64 } from './record-batch.js'

/** 64 KiB a partition: ~60 ms of a 1 MB/s partition; a reader further behind reads the file. */
export const RECENT_BATCH_BYTES = 64 * 1024
/** Across a thread's partitions (as workers/tail-cache.ts bounds its pushed tails). */
export const RECENT_BATCH_BUDGET_BYTES = 16 * 1024 * 1024

/** The bound on recent batches across partitions; the least recently appended give way first. */
export class RecentBatchBudget {
  readonly limitBytes: number
  #usedBytes = 0
  /** Holders by their last append, least recent first (a Map iterates in insertion order). */
  readonly #holders = new Map<RecentBatches, true>()

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes
  }

  get usedBytes(): number {
    return this.#usedBytes
  }

  /** `holder` kept `bytes` more: it becomes the most recent, and others give theirs up while over. */
  grew(holder: RecentBatches, bytes: number): void {
    this.#usedBytes += bytes
    this.#holders.delete(holder)
    this.#holders.set(holder, true)
    for (const other of this.#holders.keys()) {
      if (this.#usedBytes <= this.limitBytes || other === holder) break
      other.clear()
    }
  }

  released(holder: RecentBatches, bytes: number, empty: boolean): void {
    this.#usedBytes -= bytes
    if (empty) this.#holders.delete(holder)
  }
}

const threadBudget = new RecentBatchBudget(RECENT_BATCH_BUDGET_BYTES)

export class RecentBatches {
  readonly limitBytes: number
  readonly #budget: RecentBatchBudget
  #batches: Buffer[] = []
  #bytes = 0

  constructor(limitBytes = RECENT_BATCH_BYTES, budget: RecentBatchBudget = threadBudget) {
    this.limitBytes = limitBytes
    this.#budget = budget
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Keeps `batch`, just appended at the log end. The caller must not change it afterwards. */
  add(batch: Buffer): void {
    if (this.limitBytes === 0) return
    // A view into a larger buffer is copied, into a buffer of its own (Buffer.from would put a small
    // batch in, and pin, an 8 KiB pool slab), so what is kept pins about its own bytes.
    let kept = batch
    if (batch.length * 2 < batch.buffer.byteLength) {
      kept = Buffer.allocUnsafeSlow(batch.length)
      kept.set(batch)
    }
    this.#batches.push(kept)
    this.#bytes += kept.length
    this.#budget.grew(this, kept.length)
    while (
      this.#batches.length > 0 &&
      (this.#bytes > this.limitBytes || this.#budget.usedBytes > this.#budget.limitBytes)
    ) {
      const dropped = (this.#batches.shift() as Buffer).length
      this.#bytes -= dropped
      this.#budget.released(this, dropped, this.#batches.length === 0)
    }
  }

  clear(): void {
    if (this.#batches.length === 0) return
    const bytes = this.#bytes
    this.#batches = []
    this.#bytes = 0
    this.#budget.released(this, bytes, true)
  }

  /**
   * PartitionLog.read from memory, when the batches hold `offset` (undefined otherwise): whole
   * batches from the one holding it, below `maxOffset`, within `maxBytes` (the first always), up to
   * the one holding `stopAt − 1`. Copied into one buffer allocated with allocUnsafeSlow, as a read
   * from the file returns them (a caller may move its ArrayBuffer to another thread).
   */
  read(offset: number, maxBytes: number, maxOffset: number, stopAt: number): Buffer[] | undefined {
    const batches = this.#batches
    if (batches.length === 0 || offset < readInt64(batches[0] as Buffer, BASE_OFFSET_OFFSET)) return undefined
    // Readers at the tail ask for the newest batches: look from the end.
    let first = batches.length - 1
    while (first > 0 && readInt64(batches[first] as Buffer, BASE_OFFSET_OFFSET) > offset) first--
    let end = first
    let bytes = 0
    for (; end < batches.length; end++) {
      const batch = batches[end] as Buffer
      const lastOffset = readInt64(batch, BASE_OFFSET_OFFSET) + batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET)
      if (lastOffset >= maxOffset || (end > first && bytes + batch.length > maxBytes)) break
      bytes += batch.length
      if (lastOffset >= stopAt - 1) {
        end++
        break
      }
    }
    const copy = Buffer.allocUnsafeSlow(bytes)
    const out: Buffer[] = []
    let pos = 0
    for (let k = first; k < end; k++) {
      const batch = batches[k] as Buffer
      copy.set(batch, pos)
      out.push(copy.subarray(pos, pos + batch.length))
      pos += batch.length
    }
    return out
  }
}
