/**
 * Long polls: fetches that found nothing wait here for the partition's high watermark to move.
 *
 * A waiter is woken by the next state change of any partition it watches, by its timeout, or by
 * its request's abort (client gone); the caller then re-checks and fetches. Waking on any change
 * (instead of evaluating each waiter's condition here) keeps this module trivial and the cost is
 * one extra check per wake. The number of waiters is bounded so idle consumers cannot pile up
 * unbounded timers and closures.
 */
import { ThrottledError } from '../errors.js'

/** 10,000 parked long polls ≈ a few MB of closures and timers; past that we shed load. */
export const MAX_WAITERS = 10_000

interface Waiter {
  keys: readonly string[]
  wake: () => void
}

export class PartitionWaiters {
  readonly #byKey = new Map<string, Set<Waiter>>()
  #count = 0

  get size(): number {
    return this.#count
  }

  /** Resolves on the next change of any of `keys`, after `timeoutMs`, or when `signal` aborts. */
  waitForChange(keys: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve()
    if (this.#count >= MAX_WAITERS) {
      return Promise.reject(
        new ThrottledError('too many long polls are waiting; retry later', { retryAfterMs: 1000 }),
      )
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const waiter: Waiter = {
        keys,
        wake: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', waiter.wake)
          this.#remove(waiter)
          resolve()
        },
      }
      timer = setTimeout(waiter.wake, timeoutMs)
      signal?.addEventListener('abort', waiter.wake, { once: true })
      this.#count++
      for (const key of keys) {
        const set = this.#byKey.get(key) ?? new Set<Waiter>()
        this.#byKey.set(key, set)
        set.add(waiter)
      }
    })
  }

  notify(key: string): void {
    const set = this.#byKey.get(key)
    if (!set) return
    for (const waiter of [...set]) waiter.wake()
  }

  wakeAll(): void {
    for (const set of [...this.#byKey.values()]) for (const waiter of [...set]) waiter.wake()
  }

  #remove(waiter: Waiter): void {
    let present = false
    for (const key of waiter.keys) {
      const set = this.#byKey.get(key)
      if (set?.delete(waiter)) present = true
      if (set?.size === 0) this.#byKey.delete(key)
    }
    if (present) this.#count--
  }
}
