/**
 * The wait before the etcd client re-opens a watch stream that failed (etcd3's `watchBackoff`).
 *
 * etcd3's default grows to 30 s, and each failure arms a new timer (two per failure: the stream's
 * `error` and `end` both schedule a reconnect) that nothing can cancel. After an etcd outage those
 * timers kept a closed broker alive for up to 30 s. Here the wait doubles from 100 ms to at most
 * 1 s (etcd coming back is noticed within a second, like the gRPC reconnect), and once the node
 * is closed it is 0: a reconnect scheduled then runs at once and finds no watcher left.
 */
export class WatchBackoff {
  readonly #state: { closed: boolean }
  readonly #ms: number

  constructor(state: { closed: boolean } = { closed: false }, ms = INITIAL_MS) {
    this.#state = state
    this.#ms = ms
  }

  get duration(): number {
    return this.#state.closed ? 0 : this.#ms
  }

  next(): WatchBackoff {
    return new WatchBackoff(this.#state, Math.min(MAX_MS, this.#ms * 2))
  }

  /** Every backoff derived from this one waits 0 from now on. */
  close(): void {
    this.#state.closed = true
  }
}

const INITIAL_MS = 100
const MAX_MS = 1_000
