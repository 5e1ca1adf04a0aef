/**
 * Routes partition requests to partition workers: N piscina pools of exactly one thread each.
 *
 * Why one pool per thread: a piscina pool hands a task to its least busy thread, so a pool of N
 * threads would let two threads write the same partition. Ownership is ours instead: a partition
 * is pinned to pool `(hash(topic) + partition) mod N` for the life of the process (a topic's
 * partitions land round-robin on the pools), and that pool's one thread is its only writer.
 *
 * Pool settings, each deliberate:
 * - `concurrentTasksPerWorker` high: many appends must be in flight in one thread so that one
 *   group-commit fsync covers them all; piscina's default of 1 would serialise produce on fsync.
 * - `atomics: 'disabled'`: an idle piscina thread otherwise parks in `Atomics.wait`, which freezes
 *   its event loop, and with it the flush timers of acks=0/1 writes and fsync completions.
 * - `idleTimeout: Infinity`: the thread holds open logs; it must never be retired for idleness.
 *
 * Record batches cross to the worker transferred (their ArrayBuffer moves; the caller's Buffer is
 * left detached, so the caller must not read a batch after sending it), and fetch bodies come
 * back the same way.
 *
 * A worker that dies (uncaught error, exit) is replaced by piscina; this router notices (the
 * pool's `workerDestroy` event), fails the requests that were in flight with WORKER_FAILED (503,
 * retriable: an append in flight may or may not have been written, and a retry with producerId
 * and sequence is idempotent), re-opens the pool's partitions in the new thread (which runs log
 * recovery), logs it and counts it. Requests that arrive meanwhile wait for the recovery, at
 * most RECOVERY_WAIT_MS, then fail with WORKER_FAILED: nothing waits forever.
 */

import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { errorFromEnvelope, StrataError, WorkerFailedError } from '../errors.js'
import { emptyHostStats } from '../metrics/worker-metrics.js'
import { partitionKey } from './partition-host.js'
import {
  asBuffer,
  type CrashHow,
  ownsWholeBuffer,
  type PoolReply,
  type PoolTask,
  STALE_GENERATION_REASON,
} from './partition-worker.js'
import type { HostEvent, HostRequest, HostResponses, HostStats, OpenRequest } from './worker-messages.js'
import type { OwnerLoad, PartitionRouter } from './worker-router.js'

/**
 * Tasks in flight in one thread. Appends waiting for the same fsync are all in flight at once,
 * so this caps a group commit at 512 requests; past it piscina queues (its queue depth is a
 * metric). Memory stays bounded by maxInflightBytesPerPartition, not by this number.
 */
export const CONCURRENT_TASKS_PER_WORKER = 512
/** How long a request waits for a crashed worker's partitions to be recovered before WORKER_FAILED. */
export const RECOVERY_WAIT_MS = 15_000
/** A new thread must load the worker module and answer `init` within this time, or its pool is replaced. */
export const INIT_TIMEOUT_MS = 10_000
/** Retry-After for WORKER_FAILED: a replacement thread is usually serving again within this. */
const WORKER_FAILED_RETRY_MS = 500

export interface RouterLogger {
  error(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

const silentLogger: RouterLogger = { error() {}, warn() {}, info() {} }

export interface PoolRouterOptions {
  workers: number
  /** The compiled worker module; defaults to partition-worker.js beside this file. */
  filename?: string
  logger?: RouterLogger
  /**
   * With STRATA_TEST_HOOKS=1: SIGUSR2 makes worker 0 crash right after its next append is written
   * (crash tests on a real broker process).
   */
  testHooks?: boolean
}

interface PoolSlot {
  readonly index: number
  pool: Piscina<PoolTask, unknown>
  /** Incremented on every restart; tasks carry it so a replacement thread refuses stale ones. */
  generation: number
  /** The receiving end of the current thread's state events. */
  events: MessagePort | undefined
  /** Partitions pinned here, with the request that re-opens (recovers) each one after a restart. */
  readonly owned: Map<string, OpenRequest>
  recovering: Promise<void> | undefined
  /** The first error seen for the failure being recovered from (for the log line). */
  failureCause: unknown
  restarts: number
  inflight: number
  lastStats: HostStats | undefined
}

type PartitionRequest = Exclude<HostRequest, { op: 'stats' | 'retention' }>

/** FNV-1a, 32-bit: stable across processes and releases, unlike anything keyed on object identity. */
export function stableHash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export function workerIndexFor(topic: string, partition: number, workers: number): number {
  return (stableHash(topic) + partition) % workers
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WorkerFailedError(message, { retryAfterMs: WORKER_FAILED_RETRY_MS })),
      ms,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class PoolRouter implements PartitionRouter {
  readonly kind = 'worker-pool'
  readonly #filename: string
  readonly #slots: PoolSlot[] = []
  readonly #listeners: Array<(event: HostEvent) => void> = []
  readonly #testHooks: boolean
  #logger: RouterLogger
  #closed = false
  #closing: Promise<void> | undefined

  private constructor(opts: PoolRouterOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1)
      throw new RangeError('PoolRouter needs workers >= 1')
    this.#filename = opts.filename ?? fileURLToPath(new URL('./partition-worker.js', import.meta.url))
    this.#logger = opts.logger ?? silentLogger
    this.#testHooks = opts.testHooks === true
  }

  /** Starts every pool's thread and initialises it; rejects if a thread cannot start. */
  static async start(opts: PoolRouterOptions): Promise<PoolRouter> {
    const router = new PoolRouter(opts)
    for (let index = 0; index < opts.workers; index++) {
      const slot: PoolSlot = {
        index,
        pool: undefined as unknown as Piscina<PoolTask, unknown>,
        generation: 1,
        events: undefined,
        owned: new Map(),
        recovering: undefined,
        failureCause: undefined,
        restarts: 0,
        inflight: 0,
        lastStats: undefined,
      }
      slot.pool = router.#createPool(slot)
      router.#slots.push(slot)
    }
    try {
      await Promise.all(router.#slots.map((slot) => router.#init(slot)))
    } catch (err) {
      await router.close()
      throw err
    }
    if (router.#testHooks) process.on('SIGUSR2', router.#onCrashSignal)
    return router
  }

  set logger(logger: RouterLogger) {
    this.#logger = logger
  }

  get workers(): number {
    return this.#slots.length
  }

  workerFor(topic: string, partition: number): number {
    return workerIndexFor(topic, partition, this.#slots.length)
  }

  async request<R extends PartitionRequest>(req: R): Promise<HostResponses[R['op']]> {
    const slot = this.#slots[this.workerFor(req.topic, req.partition)] as PoolSlot
    const key = partitionKey(req.topic, req.partition)
    // Track ownership before sending: if the thread dies mid-open, recovery opens it anyway.
    if (req.op === 'open') slot.owned.set(key, req)
    if (req.op === 'close') slot.owned.delete(key)
    try {
      return (await this.#send(slot, { kind: 'request', generation: 0, req })) as HostResponses[R['op']]
    } catch (err) {
      if (req.op === 'open' && !(err instanceof WorkerFailedError)) slot.owned.delete(key)
      throw err
    }
  }

  async stats(): Promise<HostStats[]> {
    // A scrape must not wait for a restarting worker: it reports that worker's last known counters.
    return Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.recovering === undefined) {
          try {
            slot.lastStats = (await this.#send(slot, {
              kind: 'request',
              generation: 0,
              req: { op: 'stats' },
            })) as HostStats
          } catch {
            // Counted and logged as a worker failure by #send; the last known stats stand in.
          }
        }
        return slot.lastStats ?? emptyHostStats()
      }),
    )
  }

  async retention(nowMs: number): Promise<number> {
    const deleted = await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.recovering !== undefined) return 0
        const out = await this.#send(slot, {
          kind: 'request',
          generation: 0,
          req: { op: 'retention', nowMs },
        })
        return (out as HostResponses['retention']).deletedSegments
      }),
    )
    return deleted.reduce((a, b) => a + b, 0)
  }

  onEvent(listener: (event: HostEvent) => void): void {
    this.#listeners.push(listener)
  }

  load(): OwnerLoad[] {
    return this.#slots.map((slot) => ({
      worker: slot.index,
      inflight: slot.inflight,
      queued: slot.pool.queueSize,
      partitions: slot.owned.size,
      restarts: slot.restarts,
      recovering: slot.recovering !== undefined,
    }))
  }

  /**
   * Test hook: kills worker `index` the way a bug would, now or right after its next append is
   * written (the thread only obeys with STRATA_TEST_HOOKS=1).
   */
  async crashWorker(
    index: number,
    how: CrashHow = 'throw',
    at: 'now' | 'next-append' = 'now',
  ): Promise<void> {
    const slot = this.#slots[index]
    if (!slot) throw new RangeError(`no worker ${index}`)
    await this.#send(slot, { kind: 'crash', generation: 0, how, at })
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    process.off('SIGUSR2', this.#onCrashSignal)
    await Promise.allSettled(
      this.#slots.map(async (slot) => {
        try {
          if (slot.recovering === undefined && slot.events !== undefined) {
            // Flushes and checkpoints every partition of the thread, so the next start is clean.
            await withTimeout(
              slot.pool.run({ kind: 'shutdown', generation: slot.generation }),
              30_000,
              `worker ${slot.index} did not close its partitions in 30 s`,
            )
          }
        } catch (err) {
          this.#logger.error({ err, worker: slot.index }, 'partition worker did not shut down cleanly')
        } finally {
          slot.events?.close()
          await slot.pool.destroy()
        }
      }),
    )
  }

  #onCrashSignal = (): void => {
    this.crashWorker(0, 'throw', 'next-append').catch((err) =>
      this.#logger.error({ err }, 'test hook: crashing worker 0 failed'),
    )
  }

  #createPool(slot: PoolSlot): Piscina<PoolTask, unknown> {
    const pool = new Piscina<PoolTask, unknown>({
      filename: this.#filename,
      name: 'handleTask',
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: CONCURRENT_TASKS_PER_WORKER,
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      recordTiming: false,
    })
    // 'workerDestroy' fires once per dead thread (uncaught error, exit, or our own destroy);
    // 'error' carries the uncaught error of a thread that had no task in flight.
    pool.on('workerDestroy', () => {
      if (slot.pool === pool) this.#failed(slot, slot.generation, undefined)
    })
    pool.on('error', (err: unknown) => {
      if (slot.pool === pool) this.#failed(slot, slot.generation - (slot.recovering ? 1 : 0), err)
    })
    return pool
  }

  /** Hands the thread its generation and a fresh port for its state events. */
  async #init(slot: PoolSlot): Promise<void> {
    const { port1, port2 } = new MessageChannel()
    port1.on('message', (event: HostEvent) => this.#emit(event))
    port1.unref()
    try {
      await withTimeout(
        slot.pool.run(
          { kind: 'init', generation: slot.generation, events: port2 },
          { transferList: [port2] },
        ),
        INIT_TIMEOUT_MS,
        `partition worker ${slot.index} did not start in ${INIT_TIMEOUT_MS} ms`,
      )
    } catch (err) {
      port1.close()
      throw err
    }
    slot.events?.close()
    slot.events = port1
  }

  #emit(event: HostEvent): void {
    for (const listener of this.#listeners) listener(event)
  }

  /** Sends one task to the slot's thread, waiting out a recovery; rebuilds typed errors from replies. */
  async #send(slot: PoolSlot, task: PoolTask): Promise<unknown> {
    if (slot.recovering !== undefined) await this.#awaitRecovery(slot)
    if (this.#closed)
      throw new WorkerFailedError('the broker is shutting down', { retryAfterMs: WORKER_FAILED_RETRY_MS })
    const generation = slot.generation
    const stamped = { ...task, generation } as PoolTask
    const req = task.kind === 'request' ? task.req : undefined
    const transferList =
      req?.op === 'append' && ownsWholeBuffer(req.batch) ? [req.batch.buffer as ArrayBuffer] : undefined
    // Scrapes (stats) are not load: only partition requests count as in flight.
    const counted = req !== undefined && req.op !== 'stats'
    if (counted) slot.inflight++
    let reply: PoolReply
    try {
      reply = (await slot.pool.run(stamped, transferList ? { transferList } : {})) as PoolReply
    } catch (err) {
      // Task errors come back as replies, so a rejection means the thread is gone.
      this.#failed(slot, generation, err)
      throw new WorkerFailedError(
        `partition worker ${slot.index} failed while serving this request; it is being restarted, retry`,
        { worker: slot.index, retryAfterMs: WORKER_FAILED_RETRY_MS },
        { cause: err },
      )
    } finally {
      if (counted) slot.inflight--
    }
    if (!reply.ok) {
      // A thread that does not know our generation was started behind our back: recover it.
      if (reply.error.details?.reason === STALE_GENERATION_REASON) this.#failed(slot, generation, undefined)
      throw errorFromEnvelope({ error: reply.error })
    }
    if (req?.op === 'fetch') {
      const fetched = reply.value as HostResponses['fetch']
      fetched.body = asBuffer(fetched.body)
    }
    return reply.value
  }

  async #awaitRecovery(slot: PoolSlot): Promise<void> {
    try {
      await withTimeout(
        slot.recovering as Promise<void>,
        RECOVERY_WAIT_MS,
        `partition worker ${slot.index} is still recovering its partitions; retry`,
      )
    } catch (err) {
      if (err instanceof StrataError) throw err
      throw new WorkerFailedError(`partition worker ${slot.index} could not be restarted`, {
        worker: slot.index,
        retryAfterMs: WORKER_FAILED_RETRY_MS,
      })
    }
  }

  /** Starts one recovery per dead thread: later signals of the same death find the generation moved on. */
  #failed(slot: PoolSlot, generation: number, cause: unknown): void {
    if (this.#closed) return
    if (generation !== slot.generation) {
      if (generation === slot.generation - 1 && slot.failureCause === undefined) slot.failureCause = cause
      return
    }
    slot.generation++
    slot.restarts++
    slot.failureCause = cause
    slot.events?.close()
    slot.events = undefined
    // Deferred one macrotask: piscina finishes its own bookkeeping (rejecting the dead thread's
    // tasks, starting the replacement) before we queue the init task behind it.
    const recovering = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#recover(slot))
    slot.recovering = recovering
    recovering
      .catch(() => {})
      .finally(() => {
        if (slot.recovering === recovering) slot.recovering = undefined
      })
  }

  async #recover(slot: PoolSlot): Promise<void> {
    const started = Date.now()
    this.#logger.error(
      { err: slot.failureCause, worker: slot.index, partitions: slot.owned.size, restarts: slot.restarts },
      'partition worker died; restarting it and recovering its partitions',
    )
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new WorkerFailedError('the broker is shutting down')
      try {
        await this.#init(slot)
        break
      } catch (err) {
        this.#logger.error(
          { err, worker: slot.index, attempt },
          'replacement partition worker did not start; replacing its pool',
        )
        const dead = slot.pool
        slot.pool = this.#createPool(slot)
        dead.destroy().catch(() => {})
        await sleep(Math.min(250 * attempt, 5000))
      }
    }
    const generation = slot.generation
    const results = await Promise.allSettled(
      [...slot.owned.values()].map(async (open) => {
        const reply = (await slot.pool.run({ kind: 'request', generation, req: open })) as PoolReply<
          HostResponses['open']
        >
        if (!reply.ok) throw errorFromEnvelope({ error: reply.error })
        // Offsets may have moved back (an unflushed tail cut by recovery): tell the broker.
        this.#emit({ type: 'state', state: reply.value })
      }),
    )
    const failed = results.filter((r) => r.status === 'rejected')
    for (const r of failed) {
      this.#logger.error(
        { err: (r as PromiseRejectedResult).reason, worker: slot.index },
        'partition did not reopen after worker restart',
      )
    }
    this.#logger.warn(
      { worker: slot.index, partitions: slot.owned.size, failed: failed.length, ms: Date.now() - started },
      'partition worker restarted',
    )
  }
}
