/**
 * How many times each uncommitted record of one group partition has been delivered, for poison
 * records (`maxDeliveries`). Pure, in memory, main thread.
 *
 * Deliveries are kept as ranges of offsets, not per record: a group partition is read in contiguous
 * runs, each starting at the owner's position and moving forward, and a run restarts at the committed
 * offset whenever the partition changes owner. A record's count is the number of runs that covered
 * it. Ranges wholly below the committed offset are pruned, so the memory is one range per
 * redelivery of uncommitted records, not one entry per record.
 *
 * Persisted with the group (offset-store.ts) whenever a run starts, which is when a record is
 * delivered again (an owner change, a seek, a nack): a new coordinator after a failover continues
 * from them. A run's extension past its start is not written, so after a failover the records a run
 * reached later count one delivery fewer: a failover errs on the side of delivering, never of
 * dead-lettering a healthy record.
 */

/** Past this many runs the oldest are forgotten; a record that needs more has long been dead-lettered. */
export const MAX_DELIVERY_RANGES = 1024

export interface DeliveryRange {
  from: number
  /** Exclusive. */
  to: number
}

export class DeliveryCounts {
  readonly #ranges: DeliveryRange[] = []

  /** Counts as persisted: `ranges` in the order they were delivered. */
  constructor(ranges: readonly DeliveryRange[] = []) {
    for (const r of ranges.slice(-MAX_DELIVERY_RANGES)) if (r.to > r.from) this.#ranges.push({ ...r })
  }

  get rangeCount(): number {
    return this.#ranges.length
  }

  /** A copy of the runs, oldest first (what is persisted). */
  ranges(): DeliveryRange[] {
    return this.#ranges.map((r) => ({ ...r }))
  }

  /**
   * Records `[from, to)` were just delivered. A run that continues the last one extends it; true
   * when a new run started (the counts changed in a way worth persisting).
   */
  record(from: number, to: number): boolean {
    if (to <= from) return false
    const last = this.#ranges[this.#ranges.length - 1]
    if (last !== undefined && last.to === from) {
      last.to = to
      return false
    }
    this.#ranges.push({ from, to })
    if (this.#ranges.length > MAX_DELIVERY_RANGES) this.#ranges.shift()
    return true
  }

  /** How many times the record at `offset` was delivered (since it was last below the committed offset). */
  count(offset: number): number {
    let n = 0
    for (const r of this.#ranges) if (r.from <= offset && offset < r.to) n++
    return n
  }

  /** The first offset in `[from, limit)` delivered fewer than `max` times (or `limit`). */
  firstBelow(from: number, limit: number, max: number): number {
    let offset = from
    while (offset < limit && this.count(offset) >= max) {
      // Counts only change at range edges, so jump to the nearest edge past `offset`.
      let next = limit
      for (const r of this.#ranges) {
        if (r.from > offset && r.from < next) next = r.from
        if (r.to > offset && r.to < next) next = r.to
      }
      offset = next
    }
    return offset
  }

  /** Forgets everything below `committed`: those records are acknowledged. */
  prune(committed: number): void {
    for (let i = this.#ranges.length - 1; i >= 0; i--) {
      const r = this.#ranges[i] as DeliveryRange
      if (r.to <= committed) this.#ranges.splice(i, 1)
      else if (r.from < committed) r.from = committed
    }
  }
}
