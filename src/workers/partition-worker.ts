/**
 * The worker side of a partition pool: one piscina thread that holds one `PartitionHost`.
 *
 * The pool router (pool-router.ts) pins every partition to one single-thread pool, so this thread
 * is the only writer of the partitions it was asked to open. Its first task, `init`, carries a
 * MessagePort (the reply port); every later task carries the pool generation it was sent for. A
 * thread that piscina started to replace a dead one has not been initialised for that generation
 * and refuses stale tasks, so a request queued before a crash never reaches a partition that has
 * not been recovered yet.
 *
 * Requests arrive in batches (`requests`: everything the HTTP thread routed here during one turn
 * of its event loop) and the piscina task answers as soon as they are started. Each request's
 * answer goes back over the reply port when that request is done, so a fetch never waits for the
 * fsync of an append that travelled in the same batch. Answers and the host's state events (high
 * watermark and log start moves, which wake long polls) are queued in order and posted once per
 * turn of this thread's event loop: a state event always reaches the HTTP thread before the answer
 * of the append it covers. One message per turn instead of one per request is what makes worker
 * threads cheaper than a per-request handoff (bench/RESULTS.md, "Workers").
 *
 * Errors from the host come back as values (`{ok: false, error}`), never as rejections: a rejected
 * piscina task therefore always means the thread died. Record batches arrive transferred; fetch
 * bodies (allocated whole by the record codec) are transferred back, not copied.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads'
import { type ErrorDetails, serializeError } from '../errors.js'
import { PartitionHost } from './partition-host.js'
import type { HostEvent, HostRequest } from './worker-messages.js'

export type CrashHow = 'throw' | 'exit'

/** One request in a batch; `id` pairs it with its answer on the reply port. */
export interface RequestItem {
  id: number
  req: HostRequest
}

/** The tasks a pool thread accepts. */
export type PoolTask =
  /** `port` carries the requests in (arrays of RequestItem) and the answers and events out. */
  | { kind: 'init'; generation: number; port: MessagePort }
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

/** What the reply port carries, in order, as one array per turn of the worker's event loop. */
export type PortMessage = HostEvent | { type: 'reply'; id: number; reply: PoolReply }

/** Why a thread refused a task: it belongs to an earlier incarnation of this pool. */
const STALE_GENERATION_REASON = 'stale-generation'

let host: PartitionHost | undefined
let crashOnAppend: CrashHow | undefined
let generation = 0
let port: MessagePort | undefined
let outbox: PortMessage[] = []
let outboxTransfers: ArrayBuffer[] = []
let flushScheduled = false

/** Structured clone turns a Buffer into a plain Uint8Array; this views the same bytes as a Buffer again. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** True when `buf` owns its whole ArrayBuffer, so transferring it detaches nothing else. */
export function ownsWholeBuffer(buf: Uint8Array): boolean {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer
}

/**
 * The record bytes a request or an answer carries, by op. They cross threads transferred, and
 * arrive as a plain Uint8Array (structured clone), so the receiver views them as a Buffer again.
 */
const REQUEST_BYTES = { append: 'batch', replicaAppend: 'batches' } as const
const ANSWER_BYTES = { fetch: 'body', replicaRead: 'batches' } as const

type Fields = Record<string, Uint8Array>

function bytesField(table: Record<string, string>, op: string): string | undefined {
  return Object.hasOwn(table, op) ? table[op] : undefined
}

/** The request's record bytes, to transfer with it (undefined when it has none or shares its buffer). */
export function requestTransfer(req: HostRequest): ArrayBuffer | undefined {
  const field = bytesField(REQUEST_BYTES, req.op)
  const bytes = field === undefined ? undefined : (req as unknown as Fields)[field]
  return bytes && ownsWholeBuffer(bytes) ? (bytes.buffer as ArrayBuffer) : undefined
}

/** Views a received request's record bytes as a Buffer. */
export function restoreRequestBytes(req: HostRequest): void {
  const field = bytesField(REQUEST_BYTES, req.op)
  if (field !== undefined)
    (req as unknown as Fields)[field] = asBuffer((req as unknown as Fields)[field] as Uint8Array)
}

/** The answer's record bytes, to transfer with it. */
function answerTransfer(op: string, value: unknown): ArrayBuffer | undefined {
  const field = bytesField(ANSWER_BYTES, op)
  const bytes = field === undefined ? undefined : (value as Fields)[field]
  return bytes && ownsWholeBuffer(bytes) ? (bytes.buffer as ArrayBuffer) : undefined
}

/** Views a received answer's record bytes as a Buffer. */
export function restoreAnswerBytes(op: string, value: unknown): void {
  const field = bytesField(ANSWER_BYTES, op)
  if (field !== undefined) (value as Fields)[field] = asBuffer((value as Fields)[field] as Uint8Array)
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

function post(message: PortMessage, transfer?: ArrayBuffer): void {
  outbox.push(message)
  if (transfer) outboxTransfers.push(transfer)
  if (flushScheduled) return
  flushScheduled = true
  // After this turn's I/O callbacks: every answer and event of the turn travels in one message.
  setImmediate(flushOutbox)
}

function flushOutbox(): void {
  flushScheduled = false
  const messages = outbox
  const transfers = outboxTransfers
  outbox = []
  outboxTransfers = []
  port?.postMessage(messages, transfers)
}

function init(task: Extract<PoolTask, { kind: 'init' }>): PoolReply<{ threadGeneration: number }> {
  if (port !== undefined) flushOutbox()
  port?.close()
  port = task.port
  generation = task.generation
  host ??= new PartitionHost((event: HostEvent) => post(event), { pushTails: true })
  const h = host
  // Started in order (each append is written before the next starts); answered as each completes.
  port.on('message', (items: RequestItem[]) => {
    for (const item of items) void serve(h, item)
  })
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

/** Serves one request and queues its answer; record bytes in the answer are transferred with it. */
async function serve(h: PartitionHost, { id, req }: RequestItem): Promise<void> {
  try {
    restoreRequestBytes(req)
    const pending = h.handle(req)
    if (crashOnAppend !== undefined && req.op === 'append') dieSoon(crashOnAppend)
    const value = await pending
    post({ type: 'reply', id, reply: { ok: true, value } }, answerTransfer(req.op, value))
  } catch (err) {
    post({ type: 'reply', id, reply: { ok: false, error: serializeError(err) } })
  }
}

/** The task handler piscina calls (the pool names it with its `name` option). */
export async function handleTask(task: PoolTask): Promise<PoolReply> {
  if (task.kind === 'init') return init(task)
  if (host === undefined || task.generation !== generation) return stale(task)
  switch (task.kind) {
    case 'crash':
      return crash(task)
    case 'shutdown': {
      // Requests sent before this task travel on the port, another channel, and may not have been
      // delivered yet: start them now, or they would find their partitions closed.
      const h = host
      for (
        let m = port && receiveMessageOnPort(port);
        m !== undefined;
        m = port && receiveMessageOnPort(port)
      )
        for (const item of m.message as RequestItem[]) void serve(h, item)
      await host.closeAll()
      flushOutbox()
      return { ok: true, value: null }
    }
  }
}
