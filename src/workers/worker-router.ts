/**
 * Routes partition requests to the thread that owns the partition.
 *
 * `InProcessRouter` serves every partition from one `PartitionHost` in the main thread
 * (`--workers 0`). The worker-pool router (one single-thread piscina pool per core, a partition
 * pinned to one pool) implements the same interface, so the broker does not know which it has.
 */

import { PartitionHost } from './partition-host.js'
import type { HostEvent, HostRequest, HostResponses, HostStats } from './worker-messages.js'

/** How busy one partition owner (worker thread) is, for metrics and diagnostics. */
export interface OwnerLoad {
  worker: number
  /** Requests sent to the thread and not answered yet. */
  inflight: number
  /** Requests waiting in piscina's queue because the thread is at its concurrency limit. */
  queued: number
  partitions: number
  restarts: number
  recovering: boolean
}

export interface PartitionRouter {
  /** Sends a request to the owner of its partition (or, for stats/retention, to every owner). */
  request<R extends Exclude<HostRequest, { op: 'stats' | 'retention' }>>(
    req: R,
  ): Promise<HostResponses[R['op']]>
  stats(): Promise<HostStats[]>
  retention(nowMs: number): Promise<number>
  onEvent(listener: (event: HostEvent) => void): void
  /** Per-owner load; absent when partitions are served in the main thread (no queue to report). */
  load?(): OwnerLoad[]
  /** Flushes and closes every partition; the router is unusable afterwards. */
  close(): Promise<void>
  readonly kind: string
}

export class InProcessRouter implements PartitionRouter {
  readonly kind = 'in-process'
  readonly #listeners: Array<(event: HostEvent) => void> = []
  readonly #host = new PartitionHost((event) => {
    for (const listener of this.#listeners) listener(event)
  })

  request<R extends Exclude<HostRequest, { op: 'stats' | 'retention' }>>(
    req: R,
  ): Promise<HostResponses[R['op']]> {
    return this.#host.handle(req)
  }

  async stats(): Promise<HostStats[]> {
    return [this.#host.stats()]
  }

  async retention(nowMs: number): Promise<number> {
    return this.#host.retention(nowMs).deletedSegments
  }

  onEvent(listener: (event: HostEvent) => void): void {
    this.#listeners.push(listener)
  }

  close(): Promise<void> {
    return this.#host.closeAll()
  }
}
