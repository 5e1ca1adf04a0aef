/**
 * A broker-wide budget of fetch response bytes in flight, so many big fetches at once (or readers
 * that take their time draining them) cannot pile response bodies up in memory. Main thread.
 *
 * A fetch holds part of the budget from just before its read until its response is sent or its
 * client is gone: first its byte limit (what the read may return), then the size of the body it
 * actually renders. A long poll holds nothing while it waits for records. A fetch that does not fit
 * waits its turn briefly, then answers 429 THROTTLED with Retry-After; one fetch is always let in
 * when nothing else is in flight, so a limit above the budget still makes progress.
 */
import { ThrottledError } from '../errors.js'

/** Long enough for a few fetches ahead to finish sending, short next to a client's request timeout. */
export const FETCH_BUDGET_WAIT_MS = 500

interface Waiting {
  hold: FetchBudgetHold
  bytes: number
  admit: () => void
}

export class FetchBudget {
  readonly limitBytes: number
  #inFlight = 0
  readonly #queue: Waiting[] = []

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes
  }

  /** Bytes held by fetches between their read and the end of their response. */
  get inFlightBytes(): number {
    return this.#inFlight
  }

  /** Fetches waiting for their turn. */
  get queued(): number {
    return this.#queue.length
  }

  /** A holding of nothing yet, for one request; release it when the response is done. */
  hold(): FetchBudgetHold {
    return new FetchBudgetHold(this)
  }

  /** @internal Whether `hold` may grow to `bytes` now (only when nobody waits ahead of it). */
  fits(hold: FetchBudgetHold, bytes: number): boolean {
    const others = this.#inFlight - hold.bytes
    return others === 0 || others + bytes <= this.limitBytes
  }

  /** @internal Moves `by` bytes in or out of flight; a release lets waiting fetches in, in order. */
  adjust(by: number): void {
    this.#inFlight += by
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as Waiting
      if (!this.fits(next.hold, next.bytes)) break
      this.#queue.shift()
      next.admit()
    }
  }

  /** @internal Waits until `hold` fits `bytes` or FETCH_BUDGET_WAIT_MS passes (then 429). */
  wait(hold: FetchBudgetHold, bytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        hold,
        bytes,
        admit: () => {
          clearTimeout(timer)
          // Resolved before resizing: the resize may admit the next in line, which must come after.
          resolve()
          hold.resize(bytes)
        },
      }
      const timer = setTimeout(() => {
        this.#queue.splice(this.#queue.indexOf(waiting), 1)
        reject(
          new ThrottledError(
            `fetch responses in flight hold ${this.#inFlight} of the broker's ${this.limitBytes} bytes (--max-inflight-fetch-bytes); retry shortly`,
            { inFlightBytes: this.#inFlight, limitBytes: this.limitBytes, retryAfterMs: 1000 },
          ),
        )
      }, FETCH_BUDGET_WAIT_MS)
      this.#queue.push(waiting)
    })
  }
}

/** One request's share of the budget. */
export class FetchBudgetHold {
  readonly #budget: FetchBudget
  #bytes = 0
  /** Released for good (the response is done): a late admission must not hold bytes again. */
  #done = false

  constructor(budget: FetchBudget) {
    this.#budget = budget
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Holds `bytes` before a read: at once if they fit and nobody waits, else after a brief wait or 429. */
  async reserve(bytes: number): Promise<void> {
    if (!this.tryReserve(bytes)) await this.#budget.wait(this, bytes)
  }

  /** Holds `bytes` if they fit now and nobody waits ahead; never waits. */
  tryReserve(bytes: number): boolean {
    if (bytes <= this.#bytes) {
      this.resize(bytes)
      return true
    }
    if (this.#budget.queued > 0 || !this.#budget.fits(this, bytes)) return false
    this.resize(bytes)
    return true
  }

  /** Holds exactly `bytes` (the rendered body's size) whatever the budget says: the read is done. */
  resize(bytes: number): void {
    if (this.#done) return
    const by = bytes - this.#bytes
    this.#bytes = bytes
    this.#budget.adjust(by)
  }

  /** Gives everything back for good; called once the response is sent or the client is gone. */
  release(): void {
    this.resize(0)
    this.#done = true
  }
}
