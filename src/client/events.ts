/**
 * What the client tells the application about itself: typed events and an optional logger.
 *
 * A client that retries quietly looks dead: a broker that went away surfaces only when the retry
 * budget runs out. So the `BrokerClient` emits `connect`, `disconnect` and `retry`, the `Consumer`
 * emits `join`, `rebalance`, `commit` and `commitFailed`, and both write the same facts to a
 * `logger` when one is given (`{ debug, info, warn, error }`, e.g. `console` or a pino logger).
 *
 * A listener or logger that throws is reported to `logger.error` (or dropped) and never changes
 * what the client does: a retry must not stop because a log line failed.
 */
import { EventEmitter } from 'node:events'
import type { TopicPartition, TopicPartitionOffset } from './types.js'

/** Any object with these four methods: `console`, pino, winston, … */
export interface ClientLogger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export interface ClientEvents {
  /** A broker answered: the first time, or the first time after it failed. */
  connect: [{ url: string }]
  /** A broker could not be reached (refused, cut, timed out); requests move to another one. */
  disconnect: [{ url: string; error: unknown }]
  /** A request failed with a retriable error and will be sent again after `delayMs`. */
  retry: [{ url: string; method: string; path: string; attempt: number; delayMs: number; error: unknown }]
}

export interface ConsumerEvents {
  /** The consumer joined its group (first time, or again after the broker forgot it). */
  join: [{ memberId: string; generation: number; assignments: TopicPartition[] }]
  /** The assignment changed (emitted before `onRevoke` and `onAssign` run). */
  rebalance: [{ generation: number; assigned: TopicPartition[]; revoked: TopicPartition[] }]
  /** The broker stored these offsets. */
  commit: [{ offsets: TopicPartitionOffset[] }]
  /**
   * A commit failed. The offsets stay queued and go out with the next fetch or commit, so nothing
   * is lost while the consumer lives; if it dies first, those records are delivered again.
   */
  commitFailed: [{ error: unknown; offsets: TopicPartitionOffset[] }]
}

type Level = keyof ClientLogger

/**
 * An EventEmitter whose emits cannot throw into the code that emits: the client's own control
 * flow never depends on a listener behaving.
 */
export class Notifier<T extends Record<keyof T, unknown[]>> extends EventEmitter<T> {
  readonly logger: ClientLogger | undefined

  constructor(logger: ClientLogger | undefined) {
    super()
    this.logger = logger
  }

  /** Emits `event` and writes `message` at `level` to the logger (if any). */
  protected notify<K extends keyof T & string>(
    level: Level,
    message: string,
    event: K,
    ...args: T[K] & unknown[]
  ): void {
    this.log(level, message, args[0] as Record<string, unknown> | undefined)
    try {
      ;(this.emit as unknown as (event: K, ...args: unknown[]) => boolean)(event, ...args)
    } catch (err) {
      this.log('error', `a "${event}" listener threw`, { error: err })
    }
  }

  protected log(level: Level, message: string, fields?: Record<string, unknown>): void {
    try {
      this.logger?.[level](message, fields)
    } catch {
      // A broken logger is the application's to notice; the client carries on.
    }
  }
}
