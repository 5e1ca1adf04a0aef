/**
 * A follower's loop for one partition: first find where its log and the leader's part ways and
 * truncate there (OffsetsForLeaderEpoch, by leader epoch, as Kafka does), then long-poll the leader
 * for raw batches from its log end offset, append them verbatim, fsync, and ask again. The offset
 * it asks from is therefore always durable here, which is what the leader's high watermark counts.
 *
 * One fetcher serves one (leader, leader epoch); the replication manager stops it and starts
 * another when the metadata changes. Errors never end the loop: the leader may be down, paused or
 * not yet aware of its epoch, and each of those resolves with time or with new metadata.
 * Main thread; the appends run in the partition's owner thread (host requests).
 */
import { StrataError } from '../errors.js'
import { divergenceStep } from '../storage/index.js'
import type { PartitionRouter } from '../workers/worker-router.js'
import type { ReplicaClient } from './replica-client.js'

const MIN_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 1_000

export interface FetcherLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface ReplicaFetcherOptions {
  topic: string
  partition: number
  brokerId: number
  leaderId: number
  leaderEpoch: number
  /** The leader's URL now (it may change if the leader restarts elsewhere). */
  leaderUrl: () => string | undefined
  router: PartitionRouter
  client: ReplicaClient
  maxWaitMs: number
  maxBytes: number
  logger: FetcherLogger
  /** A replication throttle now (a replica joining through a reassignment), in bytes per second. */
  throttleBytesPerSec?: () => number | undefined
  /** Called after each successful fetch round (tests and metrics). */
  onProgress?: (logEndOffset: number, highWatermark: number) => void
}

export class ReplicaFetcher {
  readonly #o: ReplicaFetcherOptions
  readonly #abort = new AbortController()
  #done: Promise<void> | undefined
  #logEndOffset = 0

  constructor(options: ReplicaFetcherOptions) {
    this.#o = options
  }

  get leaderId(): number {
    return this.#o.leaderId
  }

  get leaderEpoch(): number {
    return this.#o.leaderEpoch
  }

  start(): void {
    this.#done ??= this.#run()
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    await this.#done
  }

  async #run(): Promise<void> {
    const o = this.#o
    const signal = this.#abort.signal
    let truncated = false
    let backoff = MIN_BACKOFF_MS
    let lastProblem = ''
    while (!signal.aborted) {
      try {
        const url = o.leaderUrl()
        if (url === undefined) throw new Error(`no URL known for leader ${o.leaderId}`)
        if (!truncated) {
          await this.#truncate(url, signal)
          truncated = true
        }
        await this.#fetchOnce(url, signal)
        backoff = MIN_BACKOFF_MS
        lastProblem = ''
      } catch (err) {
        if (signal.aborted) break
        const code = err instanceof StrataError ? err.code : undefined
        if (code === 'OFFSET_OUT_OF_RANGE') {
          const leaderLogStart = Number((err as StrataError).details?.logStartOffset)
          // Below the leader's log start (retention deleted what we need): start over from there.
          // Past its log end: we hold a tail it does not have; find the divergence again.
          if (this.#logEndOffset < leaderLogStart) {
            await this.#restartAt(leaderLogStart).catch((cause: unknown) => {
              o.logger.warn({ topic: o.topic, partition: o.partition, err: cause }, 'log restart failed')
            })
            continue
          }
          truncated = false
        }
        const problem = `${code ?? (err as Error).name}: ${(err as Error).message}`
        if (problem !== lastProblem) {
          o.logger.warn(
            { topic: o.topic, partition: o.partition, leader: o.leaderId, err: problem },
            'replica fetch failed; retrying',
          )
          lastProblem = problem
        }
        await sleep(backoff, signal)
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
      }
    }
  }

  /** KIP-279: ask the leader where our newest epoch ends, walking back while it never had it. */
  async #truncate(url: string, signal: AbortSignal): Promise<void> {
    const o = this.#o
    const ref = { topic: o.topic, partition: o.partition }
    const local = await o.router.request({ op: 'epochs', ...ref })
    this.#logEndOffset = local.logEndOffset
    let epoch = local.entries.at(-1)?.epoch
    while (epoch !== undefined) {
      const answer = await o.client.epochEnd(
        url,
        o.topic,
        o.partition,
        { epoch, replicaId: o.brokerId, leaderEpoch: o.leaderEpoch },
        signal,
      )
      const step = divergenceStep(local.entries, local.logEndOffset, answer)
      if (step.kind === 'ask') {
        epoch = step.epoch
        continue
      }
      if (step.offset < local.logEndOffset) {
        const state = await o.router.request({ op: 'truncate', ...ref, offset: step.offset })
        o.logger.info(
          {
            ...ref,
            from: local.logEndOffset,
            to: state.logEndOffset,
            leader: o.leaderId,
            epoch: o.leaderEpoch,
          },
          'truncated a divergent tail before following the leader',
        )
        this.#logEndOffset = state.logEndOffset
      }
      return
    }
  }

  /** Kafka's truncateFullyAndStartAt: nothing here is still in the leader's log. */
  async #restartAt(leaderLogStart: number): Promise<void> {
    const o = this.#o
    const from = this.#logEndOffset
    const state = await o.router.request({
      op: 'truncate',
      topic: o.topic,
      partition: o.partition,
      offset: leaderLogStart,
      fully: true,
    })
    this.#logEndOffset = state.logEndOffset
    o.logger.info(
      { topic: o.topic, partition: o.partition, from, to: state.logEndOffset, leader: o.leaderId },
      "log ended below the leader's log start: emptied it and fetching from the leader's log start",
    )
  }

  async #fetchOnce(url: string, signal: AbortSignal): Promise<void> {
    const o = this.#o
    const throttle = o.throttleBytesPerSec?.()
    const res = await o.client.fetch(
      url,
      o.topic,
      o.partition,
      {
        offset: this.#logEndOffset,
        replicaId: o.brokerId,
        leaderEpoch: o.leaderEpoch,
        maxWaitMs: o.maxWaitMs,
        maxBytes: throttle === undefined ? o.maxBytes : Math.max(1, Math.min(o.maxBytes, throttle)),
      },
      signal,
    )
    const appended = await o.router.request({
      op: 'replicaAppend',
      topic: o.topic,
      partition: o.partition,
      batches: res.batches,
      leaderHighWatermark: res.highWatermark,
      leaderLogStartOffset: res.logStartOffset,
    })
    this.#logEndOffset = appended.logEndOffset
    o.onProgress?.(appended.logEndOffset, appended.highWatermark)
    if (throttle !== undefined) {
      // The next fetch waits until these bytes fit the rate (at most a fetch of maxBytes per second).
      await sleep(Math.ceil((res.batches.length / throttle) * 1000), signal)
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
