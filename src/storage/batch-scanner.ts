/**
 * Walks the record batches of a segment's .log file, batch by batch, through a read window.
 *
 * On disk: batches back to back (record-batch.ts). The scanner reads the file in chunks so a
 * walk costs one read per chunk, not one per batch; a batch larger than the window grows it.
 *
 * Invariants: `next()` never returns a batch that runs past `end`; in `verify` mode every returned
 * batch passed `validateBatch` (length, magic, CRC); without it only the length and magic are
 * checked, which is enough to follow the chain of lengths (index rebuilds, offset lookups).
 * Thread: the partition's owner thread; synchronous reads.
 * Crash: read-only. A torn tail shows up as a `bad` step with reason `short`, `bad length`,
 * `bad magic` or `crc mismatch` at the position where the damage starts.
 */
import fs from 'node:fs'
import {
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  type BatchHeader,
  type BatchProblem,
  BatchProblems,
  CURRENT_MAGIC,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MIN_BATCH_LENGTH,
  readBatchHeader,
  validateBatch,
} from './record-batch.js'

export type ScanStep =
  | { kind: 'batch'; position: number; size: number; header: BatchHeader }
  | { kind: 'end'; position: number }
  | { kind: 'bad'; position: number; reason: BatchProblem }

/** 1 MiB: recovery reads a 1 GiB segment in ~1000 reads; a header walk needs far less. */
export const VERIFY_CHUNK_BYTES = 1024 * 1024
export const HEADER_CHUNK_BYTES = 16 * 1024

export interface ScanOptions {
  start: number
  end: number
  verify: boolean
  chunkBytes?: number
}

export class BatchScanner {
  readonly #fd: number
  readonly #end: number
  readonly #verify: boolean
  #position: number
  #window: Buffer
  #windowStart = 0
  #windowLength = 0

  constructor(fd: number, options: ScanOptions) {
    this.#fd = fd
    this.#end = options.end
    this.#verify = options.verify
    this.#position = options.start
    const chunk = options.chunkBytes ?? (options.verify ? VERIFY_CHUNK_BYTES : HEADER_CHUNK_BYTES)
    this.#window = Buffer.allocUnsafe(Math.max(chunk, BATCH_HEADER_SIZE))
  }

  get position(): number {
    return this.#position
  }

  next(): ScanStep {
    const position = this.#position
    const remaining = this.#end - position
    if (remaining === 0) return { kind: 'end', position }
    if (remaining < BATCH_HEADER_SIZE) return { kind: 'bad', position, reason: BatchProblems.SHORT }
    const head = this.#view(position, BATCH_HEADER_SIZE)
    const problem = headProblem(head, remaining)
    if (problem !== undefined) return { kind: 'bad', position, reason: problem }
    const size = head.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD
    const header = readBatchHeader(head)
    if (this.#verify) {
      const check = validateBatch(this.#view(position, size))
      if (!check.ok) return { kind: 'bad', position, reason: check.reason }
    }
    this.#position = position + size
    return { kind: 'batch', position, size, header }
  }

  #view(position: number, length: number): Buffer {
    const offsetInWindow = position - this.#windowStart
    if (offsetInWindow >= 0 && offsetInWindow + length <= this.#windowLength) {
      return this.#window.subarray(offsetInWindow, offsetInWindow + length)
    }
    if (length > this.#window.length) this.#window = Buffer.allocUnsafe(length)
    const want = Math.min(this.#window.length, this.#end - position)
    this.#windowLength = readFully(this.#fd, this.#window, want, position)
    this.#windowStart = position
    return this.#window.subarray(0, length)
  }
}

function headProblem(head: Buffer, remaining: number): BatchProblem | undefined {
  const batchLength = head.readInt32BE(BATCH_LENGTH_OFFSET)
  if (batchLength < MIN_BATCH_LENGTH) return BatchProblems.BAD_LENGTH
  if (batchLength + LOG_OVERHEAD > remaining) return BatchProblems.SHORT
  if (head.readInt8(MAGIC_OFFSET) !== CURRENT_MAGIC) return BatchProblems.BAD_MAGIC
  return undefined
}

/** readSync until `length` bytes are in or the file ends; returns how many were read. */
export function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

/** Writes `chunks` back to back from `position` in one writev, finishing a short write with writeSync. */
export function writevFully(fd: number, chunks: readonly Buffer[], position: number): void {
  if (chunks.length === 1) {
    writeFully(fd, chunks[0] as Buffer, position)
    return
  }
  let total = 0
  for (const c of chunks) total += c.length
  const n = fs.writevSync(fd, chunks as Buffer[], position)
  if (n < total) writeFully(fd, Buffer.concat(chunks as Buffer[]).subarray(n), position + n)
}

/** writeSync until every byte is written (a regular file may take a short write). */
export function writeFully(fd: number, buf: Buffer, position: number): void {
  let done = 0
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, position + done)
  }
}
