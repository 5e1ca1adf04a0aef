/**
 * A schedule of due times for the latency workloads: record k is due at t0 + k × interval.
 *
 * Node's timers fire on whole milliseconds, so a loop paced with setTimeout sends a record up to a
 * millisecond after it was due (0.4–0.8 ms at the median at 1,000/s on the 2-core VM), and a
 * latency taken from the due time (no coordinated omission) counts that as the system's. Here a
 * worker thread sleeps to each due time with Atomics.wait (a futex with a sub-millisecond timeout)
 * and wakes the main thread through Atomics.waitAsync: measured on the same VM, the main thread
 * runs 0.09 ms after the due time at the median (p99 0.2–0.3 ms) at 1,000 and 5,000 ticks/s, and
 * no core spins. Every system in bench/ is paced by this one schedule.
 */
import { Worker } from 'node:worker_threads'

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads')
const state = new Int32Array(workerData.state)
const { start, interval } = workerData
const now = () => performance.timeOrigin + performance.now()
for (let k = 0; Atomics.load(state, 1) === 0; k++) {
  const wait = start + k * interval - now()
  if (wait > 0) Atomics.wait(state, 1, 0, wait)
  Atomics.store(state, 0, k + 1)
  Atomics.notify(state, 0)
}
`

export class Pacer {
  /** performance.now() of this thread at which record 0 is due. */
  t0
  #state = new Int32Array(new SharedArrayBuffer(8))
  #seen = 0
  #worker

  /** Starts a schedule of one record per `intervalMs`, the first due `delayMs` from now. */
  constructor(intervalMs, delayMs = 20) {
    this.t0 = performance.now() + delayMs
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        state: this.#state.buffer,
        start: performance.timeOrigin + this.t0,
        interval: intervalMs,
      },
    })
    this.#worker.unref()
  }

  /** Waits until another record is due; resolves with how many are due in all. */
  async due() {
    const wait = Atomics.waitAsync(this.#state, 0, this.#seen)
    if (wait.async) await wait.value
    this.#seen = Atomics.load(this.#state, 0)
    return this.#seen
  }

  async stop() {
    Atomics.store(this.#state, 1, 1)
    Atomics.notify(this.#state, 1)
    await this.#worker.terminate()
  }
}
