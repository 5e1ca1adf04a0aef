/**
 * What the leader of one partition knows about its followers (pure bookkeeping, main thread).
 *
 * A follower's fetch offset is the offset below which it holds the leader's log fsynced (it fsyncs
 * before it fetches again), so the lowest fetch offset among the in-sync followers bounds the high
 * watermark: `HW = min(leader durableOffset, bound)`. A follower the leader has not heard from since
 * it became leader has an unknown offset, and while one is unknown the bound stays where it was.
 *
 * ISR membership is Kafka's: a follower is caught up when a fetch reached the leader's log end
 * offset, or reached the log end offset the leader had at its previous fetch (it keeps up even
 * though new data keeps arriving); one that has not been caught up for replicaLagMaxMs leaves the
 * ISR, and one outside it joins again once its fetch offset reaches the high watermark. For the HW
 * the leader counts the ISR as etcd has it plus joins it is still writing (the larger set is the
 * safer one); a removal counts only once etcd has it.
 */

/** The bound of a leader with no in-sync follower: its own durable offset alone decides. */
export const NO_BOUND = Number.MAX_SAFE_INTEGER
/** An in-sync follower has not fetched yet: the bound must not move. */
export const UNKNOWN_BOUND = -1

interface FollowerProgress {
  fetchOffset: number
  lastFetchMs: number
  lastCaughtUpMs: number
  /** The leader's log end offset when this follower last fetched. */
  leaderEndAtLastFetch: number
}

export class LeaderState {
  readonly brokerId: number
  readonly leaderEpoch: number
  readonly #followers = new Map<number, FollowerProgress>()
  #isr: Set<number>
  readonly #joining = new Set<number>()

  constructor(opts: {
    brokerId: number
    leaderEpoch: number
    replicas: readonly number[]
    isr: readonly number[]
    nowMs: number
  }) {
    this.brokerId = opts.brokerId
    this.leaderEpoch = opts.leaderEpoch
    this.#isr = new Set(opts.isr)
    this.#isr.add(opts.brokerId)
    for (const id of opts.replicas) {
      if (id === opts.brokerId) continue
      this.#followers.set(id, {
        fetchOffset: UNKNOWN_BOUND,
        lastFetchMs: opts.nowMs,
        lastCaughtUpMs: opts.nowMs,
        leaderEndAtLastFetch: 0,
      })
    }
  }

  get isr(): number[] {
    return [...this.#isr].sort((a, b) => a - b)
  }

  isFollower(id: number): boolean {
    return this.#followers.has(id)
  }

  /** The follower replicas' broker ids (every replica but the leader). */
  followers(): number[] {
    return [...this.#followers.keys()]
  }

  fetchOffsetOf(id: number): number | undefined {
    return this.#followers.get(id)?.fetchOffset
  }

  /**
   * The replicas changed under the same leader (a reassignment): new followers start unknown and
   * outside the ISR until they catch up; followers no longer listed are forgotten.
   */
  setReplicas(replicas: readonly number[], nowMs: number): void {
    for (const id of this.#followers.keys()) {
      if (!replicas.includes(id)) {
        this.#followers.delete(id)
        this.#joining.delete(id)
      }
    }
    for (const id of replicas) {
      if (id === this.brokerId || this.#followers.has(id)) continue
      this.#followers.set(id, {
        fetchOffset: UNKNOWN_BOUND,
        lastFetchMs: nowMs,
        lastCaughtUpMs: nowMs,
        leaderEndAtLastFetch: 0,
      })
    }
  }

  /** The ISR as etcd now has it (after our own change or the controller's). */
  setIsr(isr: readonly number[]): void {
    const next = new Set(isr)
    next.add(this.brokerId)
    // A follower taken out (lagging, dead, leaving) rejoins only after fetching again: its last
    // fetch offset may still be ≥ an idle partition's HW, which would re-add a dead broker at once.
    for (const id of this.#isr) {
      const f = this.#followers.get(id)
      if (!next.has(id) && f) f.fetchOffset = UNKNOWN_BOUND
    }
    this.#isr = next
    for (const id of this.#isr) this.#joining.delete(id)
  }

  recordFetch(id: number, fetchOffset: number, leaderEndOffset: number, nowMs: number): void {
    const f = this.#followers.get(id)
    if (!f) return
    if (fetchOffset >= leaderEndOffset) f.lastCaughtUpMs = nowMs
    else if (fetchOffset >= f.leaderEndAtLastFetch)
      f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, f.lastFetchMs)
    f.fetchOffset = fetchOffset
    f.lastFetchMs = nowMs
    f.leaderEndAtLastFetch = leaderEndOffset
  }

  /** The HW bound: lowest fetch offset of the in-sync (and joining) followers. */
  highWatermarkBound(): number {
    let bound = NO_BOUND
    for (const id of [...this.#isr, ...this.#joining]) {
      if (id === this.brokerId) continue
      const offset = this.#followers.get(id)?.fetchOffset ?? UNKNOWN_BOUND
      if (offset === UNKNOWN_BOUND) return UNKNOWN_BOUND
      bound = Math.min(bound, offset)
    }
    return bound
  }

  /** Followers outside the ISR that have everything committed: they may join. */
  readyToJoin(highWatermark: number): number[] {
    const out: number[] = []
    for (const [id, f] of this.#followers) {
      if (this.#isr.has(id) || this.#joining.has(id)) continue
      if (f.fetchOffset !== UNKNOWN_BOUND && f.fetchOffset >= highWatermark) out.push(id)
    }
    return out
  }

  /** In-sync followers that have not been caught up for longer than `lagMaxMs`. */
  lagging(nowMs: number, lagMaxMs: number): number[] {
    const out: number[] = []
    for (const id of this.#isr) {
      const f = this.#followers.get(id)
      if (f && nowMs - f.lastCaughtUpMs > lagMaxMs) out.push(id)
    }
    return out
  }

  markJoining(id: number): void {
    this.#joining.add(id)
  }

  joinFailed(id: number): void {
    this.#joining.delete(id)
  }
}
