/**
 * Routes partition requests to partition workers: N piscina pools of exactly one thread each.
 *
 * Why one pool per thread: a piscina pool hands a task to its least busy thread, so a pool of N
 * threads would let two threads write the same partition. Ownership is ours instead: a partition
 * is pinned to pool `(hash(topic) + partition) mod N` for the life of the process (a topic's
 * partitions land round-robin on the pools), and that pool's one thread is its only writer.
 *
 * Pool settings, each deliberate:
 * - `atomics: 'disabled'`: an idle piscina thread otherwise parks in `Atomics.wait`, which freezes
 *   its event loop, and with it the flush timers of acks=0/1 writes and fsync completions.
 * - `idleTimeout: Infinity`: the thread holds open logs; it must never be retired for idleness.
 * - `concurrentTasksPerWorker` above 1: init, shutdown and the crash hook must not queue behind
 *   one another.
 *
 * The request path is batched both ways, because a cross-thread handoff costs about as much CPU
 * as a whole small produce request (bench/RESULTS.md, "Workers"): the requests routed to a worker
 * during one turn of the HTTP thread's event loop go as ONE message on the thread's own port (not
 * a piscina task: a task costs a second message back, its completion, and piscina's bookkeeping
 * on every turn; piscina keeps the thread's life: start, replacement, init and shutdown), and the worker posts the
 * answers and state events of one of its turns as ONE message on the reply port. Appends in flight
 * are therefore bounded by maxInflightBytesPerPartition, not by piscina, and every append waiting
 * for an fsync is in flight at once, so one group-commit fsync covers them all.
 *
 * Record batches cross to the worker transferred (their ArrayBuffer moves; the caller's Buffer is
 * left detached, so the caller must not read a batch after sending it), and fetch bodies come
 * back the same way.
 *
 * A worker that dies (uncaught error, exit) is replaced by piscina; this router notices (the
 * pool's `workerDestroy` event, or a task rejected by piscina), fails the requests in flight on it
 * with WORKER_FAILED (503, retriable: an append in flight may or may not have been written, and a
 * retry with producerId and sequence is idempotent), re-opens the pool's partitions in the new
 * thread (which runs log recovery), logs it and counts it. Requests that arrive meanwhile wait for
 * the recovery, at most RECOVERY_WAIT_MS, then fail with WORKER_FAILED: nothing waits forever.
 */
import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { errorFromEnvelope, WorkerFailedError } from '../errors.js'
import { partitionKey } from './partition-host.js'
import {
  type CrashHow,
  type PoolReply,
  type PoolTask,
  type PortMessage,
  type RequestItem,
  requestTransfer,
  restoreAnswerBytes,
} from './partition-worker.js'
import { TailCache } from './tail-cache.js'
import {
  emptyHostStats,
  type HostEvent,
  type HostRequest,
  type HostResponses,
  type HostStats,
  type OpenRequest,
} from './worker-messages.js'
import type { OwnerLoad, PartitionRouter } from './worker-router.js'

/** Tasks one thread runs at once: a batch, an init, a shutdown, a crash hook (requests are not tasks). */
export const CONCURRENT_TASKS_PER_WORKER = 16
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

interface Pending {
  req: HostRequest
  resolve(value: unknown): void
  reject(err: unknown): void
}

interface PoolSlot {
  readonly index: number
  pool: Piscina<PoolTask, PoolReply>
  /** Incremented on every restart; tasks carry it so a replacement thread refuses stale ones. */
  generation: number
  /** The receiving end of the current thread's reply port (answers and state events). */
  port: MessagePort | undefined
  /** Requests sent (or about to be) and not answered, by id. */
  readonly pending: Map<number, Pending>
  /** Requests of this turn of the event loop, sent together by `#flush`. */
  outbox: RequestItem[]
  outboxTransfers: ArrayBuffer[]
  flushScheduled: boolean
  /** Partitions pinned here, with the request that re-opens (recovers) each one after a restart. */
  readonly owned: Map<string, OpenRequest>
  recovering: Promise<void> | undefined
  /** The first error seen for the failure being recovered from (for the log line). */
  failureCause: unknown
  /** An uncaught error piscina reported just before the thread's exit. */
  lastError: unknown
  restarts: number
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

function workerFailed(
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): WorkerFailedError {
  return new WorkerFailedError(message, { ...details, retryAfterMs: WORKER_FAILED_RETRY_MS }, { cause })
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(workerFailed(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The compiled worker module beside this file; when this file runs from TypeScript source (tests
 * importing src/), the build's copy (`npm test` builds first): a worker thread cannot load .ts.
 */
function defaultWorkerFile(): string {
  const here = new URL('./partition-worker.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return fileURLToPath(here)
  return fileURLToPath(new URL('../../dist/src/workers/partition-worker.js', import.meta.url))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class PoolRouter implements PartitionRouter {
  readonly kind = 'worker-pool'
  readonly #filename: string
  readonly #slots: PoolSlot[] = []
  readonly #listeners: Array<(event: HostEvent) => void> = []
  readonly #testHooks: boolean
  /** Records just made readable, pushed by the threads, for group members at the tail. */
  readonly #tails = new TailCache()
  #logger: RouterLogger
  #nextId = 1
  #closed = false
  #closing: Promise<void> | undefined

  private constructor(opts: PoolRouterOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1)
      throw new RangeError('PoolRouter needs workers >= 1')
    this.#filename = opts.filename ?? defaultWorkerFile()
    this.#logger = opts.logger ?? silentLogger
    this.#testHooks = opts.testHooks === true
  }

  /** Starts every pool's thread and initialises it; rejects if a thread cannot start. */
  static async start(opts: PoolRouterOptions): Promise<PoolRouter> {
    const router = new PoolRouter(opts)
    for (let index = 0; index < opts.workers; index++) {
      const slot: PoolSlot = {
        index,
        pool: undefined as unknown as Piscina<PoolTask, PoolReply>,
        generation: 1,
        port: undefined,
        pending: new Map(),
        outbox: [],
        outboxTransfers: [],
        flushScheduled: false,
        owned: new Map(),
        recovering: undefined,
        failureCause: undefined,
        lastError: undefined,
        restarts: 0,
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
    if (req.op === 'fetch') {
      const cached = this.#tails.read(req)
      if (cached !== undefined) return cached as HostResponses[R['op']]
    }
    const slot = this.#slots[this.workerFor(req.topic, req.partition)] as PoolSlot
    const key = partitionKey(req.topic, req.partition)
    // Track ownership before sending: if the thread dies mid-open, recovery opens it anyway.
    if (req.op === 'open') slot.owned.set(key, req)
    if (req.op === 'close') slot.owned.delete(key)
    if (req.op === 'open' || req.op === 'close') this.#tails.drop(req.topic, req.partition)
    try {
      return (await this.#send(slot, req)) as HostResponses[R['op']]
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
            slot.lastStats = (await this.#send(slot, { op: 'stats' })) as HostStats
          } catch {
            // A dead worker is counted and logged by the recovery; the last known stats stand in.
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
        const out = (await this.#send(slot, { op: 'retention', nowMs })) as HostResponses['retention']
        return out.deletedSegments
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
      inflight: slot.pending.size - slot.outbox.length,
      queued: slot.outbox.length + slot.pool.queueSize,
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
    this.#flush(slot)
    const reply = await slot.pool.run({ kind: 'crash', generation: slot.generation, how, at })
    if (!reply.ok) throw errorFromEnvelope({ error: reply.error })
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
          if (slot.recovering === undefined && slot.port !== undefined) {
            this.#flush(slot)
            // Flushes and checkpoints every partition of the thread, so the next start is clean.
            await withTimeout(
              slot.pool.run({ kind: 'shutdown', generation: slot.generation }),
              30_000,
              `worker ${slot.index} did not close its partitions in 30 s`,
            )
            // The thread posted its last answers on the port before this reply, which came on
            // piscina's channel and may have overtaken them: take them before failing the rest.
            const port = slot.port
            for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port))
              this.#receive(slot, m.message as PortMessage[])
          }
        } catch (err) {
          this.#logger.error({ err, worker: slot.index }, 'partition worker did not shut down cleanly')
        } finally {
          this.#rejectPending(slot, workerFailed('the broker is shutting down'))
          slot.port?.close()
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

  #createPool(slot: PoolSlot): Piscina<PoolTask, PoolReply> {
    const pool = new Piscina<PoolTask, PoolReply>({
      filename: this.#filename,
      name: 'handleTask',
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: CONCURRENT_TASKS_PER_WORKER,
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      recordTiming: false,
    })
    // The uncaught error of a thread that had no task in flight; its death follows ('exit', seen
    // by #init's listener), and the recovery's log line names this error as the cause.
    pool.on('error', (err: unknown) => {
      if (slot.pool !== pool) return
      if (slot.recovering !== undefined) this.#noteCause(slot, err)
      else slot.lastError = err
    })
    return pool
  }

  /** Hands the thread its generation and a fresh reply port. */
  async #init(slot: PoolSlot): Promise<void> {
    const { port1, port2 } = new MessageChannel()
    port1.on('message', (messages: PortMessage[]) => this.#receive(slot, messages))
    port1.unref()
    try {
      const reply = await withTimeout(
        slot.pool.run({ kind: 'init', generation: slot.generation, port: port2 }, { transferList: [port2] }),
        INIT_TIMEOUT_MS,
        `partition worker ${slot.index} did not start in ${INIT_TIMEOUT_MS} ms`,
      )
      if (!reply.ok) throw errorFromEnvelope({ error: reply.error })
    } catch (err) {
      port1.close()
      throw err
    }
    slot.port?.close()
    slot.port = port1
    // The thread's 'exit' is the one signal every death gives (uncaught error, process.exit,
    // terminate); piscina replaces the thread, and this starts the recovery of its partitions.
    const generation = slot.generation
    slot.pool.threads[0]?.once('exit', (code: number) => {
      this.#failed(slot, generation, new Error(`partition worker thread exited with code ${code}`))
    })
  }

  /** One turn of the worker's answers and state events, in the order the worker produced them. */
  #receive(slot: PoolSlot, messages: PortMessage[]): void {
    for (const message of messages) {
      if (message.type === 'state') {
        this.#tails.update(message.state)
        for (const listener of this.#listeners) listener(message)
        continue
      }
      const pending = slot.pending.get(message.id)
      if (pending === undefined) continue // failed already (worker restart) and answered then
      slot.pending.delete(message.id)
      const { reply } = message
      if (!reply.ok) {
        pending.reject(errorFromEnvelope({ error: reply.error }))
        continue
      }
      restoreAnswerBytes(pending.req.op, reply.value)
      pending.resolve(reply.value)
    }
  }

  /** Queues one request for the slot's thread, waiting out a recovery first. */
  async #send(slot: PoolSlot, req: HostRequest): Promise<unknown> {
    if (slot.recovering !== undefined) await this.#awaitRecovery(slot)
    if (this.#closed) throw workerFailed('the broker is shutting down')
    return this.#enqueue(slot, req)
  }

  #enqueue(slot: PoolSlot, req: HostRequest): Promise<unknown> {
    const id = this.#nextId++
    const answer = new Promise<unknown>((resolve, reject) => {
      slot.pending.set(id, { req, resolve, reject })
    })
    slot.outbox.push({ id, req })
    const transfer = requestTransfer(req)
    if (transfer) slot.outboxTransfers.push(transfer)
    if (!slot.flushScheduled) {
      slot.flushScheduled = true
      // After this turn's I/O callbacks: every request routed here in this turn travels in one task.
      setImmediate(() => this.#flush(slot))
    }
    return answer
  }

  /**
   * Sends the queued requests as one message on the thread's port. A thread that dies with them
   * unanswered is noticed by its 'exit' (#init), which fails everything pending.
   */
  #flush(slot: PoolSlot): void {
    slot.flushScheduled = false
    if (slot.outbox.length === 0) return
    const items = slot.outbox
    const transferList = slot.outboxTransfers
    slot.outbox = []
    slot.outboxTransfers = []
    try {
      if (slot.port === undefined) throw new Error('no port: the thread is being replaced')
      slot.port.postMessage(items, transferList)
    } catch (err) {
      const failure = workerFailed(
        `partition worker ${slot.index} cannot take requests; retry`,
        {
          worker: slot.index,
        },
        err,
      )
      for (const item of items) this.#settle(slot, item.id, failure)
    }
  }

  #settle(slot: PoolSlot, id: number, err: unknown): void {
    const pending = slot.pending.get(id)
    if (pending === undefined) return
    slot.pending.delete(id)
    pending.reject(err)
  }

  #rejectPending(slot: PoolSlot, err: WorkerFailedError): void {
    const all = [...slot.pending.values()]
    slot.pending.clear()
    slot.outbox = []
    slot.outboxTransfers = []
    for (const p of all) p.reject(err)
  }

  async #awaitRecovery(slot: PoolSlot): Promise<void> {
    try {
      await withTimeout(
        slot.recovering as Promise<void>,
        RECOVERY_WAIT_MS,
        `partition worker ${slot.index} is still recovering its partitions; retry`,
      )
    } catch (err) {
      if (err instanceof WorkerFailedError) throw err
      throw workerFailed(`partition worker ${slot.index} could not be restarted`, { worker: slot.index }, err)
    }
  }

  /** Starts one recovery per dead thread: later signals of the same death find the generation moved on. */
  #failed(slot: PoolSlot, generation: number, cause: unknown): void {
    if (this.#closed) return
    if (generation !== slot.generation) {
      this.#noteCause(slot, cause)
      return
    }
    slot.generation++
    slot.restarts++
    slot.failureCause = slot.lastError ?? cause
    slot.lastError = undefined
    slot.port?.close()
    slot.port = undefined
    // Whatever was in flight on the dead thread gets its answer now: an error, never silence.
    this.#rejectPending(
      slot,
      workerFailed(`partition worker ${slot.index} died while serving this request; retry`, {
        worker: slot.index,
      }),
    )
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

  /** Keeps the first cause seen for the death being recovered from, for its log line. */
  #noteCause(slot: PoolSlot, cause: unknown): void {
    if (slot.recovering !== undefined && slot.failureCause === undefined && cause !== undefined) {
      slot.failureCause = cause
    }
  }

  async #recover(slot: PoolSlot): Promise<void> {
    const started = Date.now()
    this.#logger.error(
      { err: slot.failureCause, worker: slot.index, partitions: slot.owned.size, restarts: slot.restarts },
      'partition worker died; restarting it and recovering its partitions',
    )
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw workerFailed('the broker is shutting down')
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
    const results = await Promise.allSettled(
      [...slot.owned.values()].map(async (open) => {
        const state = (await this.#enqueue(slot, open)) as HostResponses['open']
        // Offsets may have moved back (an unflushed tail cut by recovery): tell the broker.
        this.#tails.update(state)
        for (const listener of this.#listeners) listener({ type: 'state', state })
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
