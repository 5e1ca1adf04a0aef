/**
 * The worker side of a partition pool: one piscina thread that holds one `PartitionHost`.
 *
 * The pool router (pool-router.ts) pins every partition to one single-thread pool, so this thread
 * is the only writer of the partitions it was asked to open. It first receives an `init` task
 * carrying a MessagePort: the host's state events (high watermark moves, log start moves) flow
 * back over it to the HTTP thread, where long polls wait. Every later task carries the pool
 * generation it was sent for; a thread that piscina started to replace a dead one has not been
 * initialised for that generation and refuses stale tasks, so a request queued before a crash
 * never reaches a partition that has not been recovered yet.
 *
 * Errors from the host come back as values (`{ok: false, error}`), never as rejections: a
 * rejected piscina task therefore always means the thread died, which is how the router tells a
 * crash from an ordinary error such as OFFSET_OUT_OF_RANGE. Fetch bodies are allocated whole
 * (allocUnsafeSlow) by the record codec and are transferred back, not copied.
 */
import type { MessagePort } from 'node:worker_threads'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { type ErrorDetails, serializeError } from '../errors.js'
import { PartitionHost } from './partition-host.js'
import type { HostEvent, HostRequest, HostResponses } from './worker-messages.js'

/** The tasks a pool thread accepts. */
export type PoolTask =
  | { kind: 'init'; generation: number; events: MessagePort }
  | { kind: 'request'; generation: number; req: HostRequest }
  | { kind: 'shutdown'; generation: number }
  /**
   * Test hook (only with STRATA_TEST_HOOKS=1): kill this thread as a bug would, to test recovery.
   * `at: 'next-append'` dies right after the next append is written and before it is confirmed,
   * so a crash test always has a request in flight and a written-but-unconfirmed batch.
   */
  | { kind: 'crash'; generation: number; how: CrashHow; at: 'now' | 'next-append' }

export interface SerializedError {
  code: string
  message: string
  details?: ErrorDetails
}

export type PoolReply<T = unknown> = { ok: true; value: T } | { ok: false; error: SerializedError }

/** Why a thread refused a task: it belongs to an earlier incarnation of this pool. */
export const STALE_GENERATION_REASON = 'stale-generation'

export type CrashHow = 'throw' | 'exit'

let host: PartitionHost | undefined
let crashOnAppend: CrashHow | undefined
let generation = 0
let events: MessagePort | undefined

/** Structured clone turns a Buffer into a plain Uint8Array; this views the same bytes as a Buffer again. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** True when `buf` owns its whole ArrayBuffer, so transferring it detaches nothing else. */
export function ownsWholeBuffer(buf: Buffer): boolean {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer
}

function stale(task: PoolTask): PoolReply<never> {
  return {
    ok: false,
    error: {
      code: 'WORKER_FAILED',
      message: `partition worker restarted (task for generation ${task.generation}, thread at ${generation}); retry`,
      details: { reason: STALE_GENERATION_REASON, retryAfterMs: 100 },
    },
  }
}

/** A fetch answer whose body's ArrayBuffer moves to the HTTP thread instead of being cloned. */
function movable(reply: PoolReply<HostResponses['fetch']>): unknown {
  if (!reply.ok || !ownsWholeBuffer(reply.value.body)) return reply
  return move({ [transferableSymbol]: [reply.value.body.buffer], [valueSymbol]: reply } as never)
}

function init(task: Extract<PoolTask, { kind: 'init' }>): PoolReply<{ threadGeneration: number }> {
  events?.close()
  events = task.events
  generation = task.generation
  const port = task.events
  host ??= new PartitionHost((event: HostEvent) => port.postMessage(event))
  return { ok: true, value: { threadGeneration: generation } }
}

/** Dies on the next turn of the event loop: after the current task's synchronous work, like a real bug. */
function dieSoon(how: CrashHow): void {
  setImmediate(() => {
    if (how === 'exit') process.exit(70)
    throw new Error('test hook: partition worker crashed on purpose')
  })
}

function crash(task: Extract<PoolTask, { kind: 'crash' }>): PoolReply<null> {
  if (process.env.STRATA_TEST_HOOKS !== '1') {
    return {
      ok: false,
      error: { code: 'INVALID_REQUEST', message: 'test hooks are off (STRATA_TEST_HOOKS=1)' },
    }
  }
  if (task.at === 'now') dieSoon(task.how)
  else crashOnAppend = task.how
  return { ok: true, value: null }
}

/** The task handler piscina calls (the pool names it with its `name` option). */
export async function handleTask(task: PoolTask): Promise<unknown> {
  if (task.kind === 'init') return init(task)
  if (host === undefined || task.generation !== generation) return stale(task)
  switch (task.kind) {
    case 'crash':
      return crash(task)
    case 'shutdown':
      await host.closeAll()
      return { ok: true, value: null }
    case 'request':
      try {
        if (task.req.op === 'append') task.req.batch = asBuffer(task.req.batch)
        const pending = host.handle(task.req)
        if (crashOnAppend !== undefined && task.req.op === 'append') dieSoon(crashOnAppend)
        const value = await pending
        const reply: PoolReply = { ok: true, value }
        return task.req.op === 'fetch' ? movable(reply as PoolReply<HostResponses['fetch']>) : reply
      } catch (err) {
        return { ok: false, error: serializeError(err) } satisfies PoolReply
      }
  }
}
