/**
 * Idempotent-producer state: for each producerId, its epoch and its last 5 batches, so a retried
 * batch is answered with the offsets it got the first time instead of being written twice
 * (Kafka's ProducerStateManager).
 *
 * On disk (`<20-digit offset>.snapshot`, the state as of that log end offset): a uint32 CRC32C of
 * the body, then the body, MessagePack:
 *   { version: 1, offset, producers: [[producerId, producerEpoch, [[baseSequence, lastSequence,
 *     baseOffset, lastOffset, firstTimestamp, maxTimestamp, sizeInBytes], ...], lastTimestamp], ...] }
 * (a producer without lastTimestamp, from an older snapshot, takes its batches' newest maxTimestamp).
 * Written at each roll and at a clean close; the partition keeps the newest few.
 *
 * Expiry (Kafka's producer.id.expiration.ms): each producer keeps the broker's wall clock at its
 * last append (not the client-set batch timestamps, which may be skewed); `removeExpired` drops
 * those idle longer than the expiration, so the state stays bounded. The partition calls it before
 * writing a snapshot and after loading the state. Batches replayed at recovery count as written at
 * the replay: a producer is then kept longer than needed, never dropped early.
 *
 * Sequence rules. A batch repeating a cached batch's baseSequence is a retry (answered with its
 * offsets); one at or below the last sequence otherwise is refused (DUPLICATE_SEQUENCE). With the
 * gap check (the partition route, where a request's sequence is that partition's count), a batch
 * above lastSequence + 1 is refused too (OUT_OF_ORDER_SEQUENCE, retriable: an earlier batch of the
 * producer has not been written yet), as Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER. A producer without
 * state here (its first batch, or its state expired) may start at any sequence, as in Kafka ≥ 2.5.
 *
 * Invariants: a batch without a producer (producerId −1) is never tracked; a higher epoch resets
 * the producer's batches; the state after loading equals the state after replaying every batch
 * from the snapshot offset to the log end offset.
 * Thread: the partition's owner thread; snapshot I/O is synchronous.
 * Crash: a snapshot is written to a temp file and renamed, without fsync: a torn or lost one fails
 * its CRC or is missing, and the state is rebuilt from an older snapshot (or the log start) plus
 * the batch headers after it. A snapshot past the recovered log end is deleted.
 */
import fs from 'node:fs'
import { crc32c } from '@node-rs/crc32'
import { pack, unpack } from 'msgpackr'
import { DuplicateSequenceError, InvalidRequestError, OutOfOrderSequenceError } from '../errors.js'
import { writeFileAtomically } from './checkpoint-file.js'
import { type BatchHeader, batchLastOffset } from './record-batch.js'
import { offsetFilePath, removeFileIfExists, SNAPSHOT_FILE_SUFFIX } from './segment-files.js'

/** Kafka keeps the last 5 batches per producer (max.in.flight.requests.per.connection ≤ 5). */
export const PRODUCER_BATCH_CACHE_SIZE = 5
const SNAPSHOT_VERSION = 1
const CRC_SIZE = 4

export interface ProducerBatch {
  baseSequence: number
  lastSequence: number
  baseOffset: number
  lastOffset: number
  firstTimestamp: number
  maxTimestamp: number
  sizeInBytes: number
}

export interface ProducerEntry {
  producerEpoch: number
  /** Oldest first, at most PRODUCER_BATCH_CACHE_SIZE. */
  batches: ProducerBatch[]
  /** Wall clock (ms) of the producer's last append, for expiry. */
  lastTimestamp: number
}

/** Kafka's default producer.id.expiration.ms: 1 day. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000

export type SequenceDecision =
  | { kind: 'append' }
  | { kind: 'duplicate'; batch: ProducerBatch }
  | { kind: 'stale-sequence'; lastSequence: number }
  | { kind: 'sequence-gap'; lastSequence: number }
  | { kind: 'fenced-epoch'; currentEpoch: number }

/**
 * Pure: what to do with a batch from this producer, given what the log already holds. `checkGap`:
 * the sequence must continue the producer's last one (see "Sequence rules").
 */
export function checkSequence(
  entry: Pick<ProducerEntry, 'producerEpoch' | 'batches'> | undefined,
  producerEpoch: number,
  baseSequence: number,
  checkGap = false,
): SequenceDecision {
  if (entry === undefined || producerEpoch > entry.producerEpoch) return { kind: 'append' }
  if (producerEpoch < entry.producerEpoch) return { kind: 'fenced-epoch', currentEpoch: entry.producerEpoch }
  const batch = entry.batches.find((b) => b.baseSequence === baseSequence)
  if (batch !== undefined) return { kind: 'duplicate', batch }
  const lastSequence = entry.batches.at(-1)?.lastSequence ?? -1
  if (baseSequence <= lastSequence) return { kind: 'stale-sequence', lastSequence }
  if (checkGap && entry.batches.length > 0 && baseSequence > lastSequence + 1)
    return { kind: 'sequence-gap', lastSequence }
  return { kind: 'append' }
}

export function isIdempotent(header: BatchHeader): boolean {
  return header.producerId >= 0 && header.baseSequence >= 0
}

export class ProducerStateManager {
  readonly #producers = new Map<number, ProducerEntry>()

  get producerCount(): number {
    return this.#producers.size
  }

  entry(producerId: number): ProducerEntry | undefined {
    return this.#producers.get(producerId)
  }

  /**
   * For the leader path: the original batch if this one is a retry, undefined if it is new.
   * Throws DuplicateSequenceError for an old sequence no longer cached, OutOfOrderSequenceError
   * (with `checkGap`) for a sequence past the next one, InvalidRequestError for a fenced (older)
   * epoch.
   */
  findDuplicate(header: BatchHeader, checkGap = false): ProducerBatch | undefined {
    if (!isIdempotent(header)) return undefined
    const decision = checkSequence(
      this.#producers.get(header.producerId),
      header.producerEpoch,
      header.baseSequence,
      checkGap,
    )
    const details = {
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
    }
    switch (decision.kind) {
      case 'append':
        return undefined
      case 'duplicate':
        return decision.batch
      case 'stale-sequence':
        throw new DuplicateSequenceError(
          `sequence ${header.baseSequence} of producer ${header.producerId} is at or below its last sequence ${decision.lastSequence}`,
          { ...details, lastSequence: decision.lastSequence },
        )
      case 'sequence-gap':
        throw new OutOfOrderSequenceError(
          `sequence ${header.baseSequence} of producer ${header.producerId} does not follow its last sequence ${decision.lastSequence}: an earlier batch has not been written yet`,
          { ...details, lastSequence: decision.lastSequence, expectedSequence: decision.lastSequence + 1 },
        )
      case 'fenced-epoch':
        throw new InvalidRequestError(
          `producer ${header.producerId} epoch ${header.producerEpoch} is older than ${decision.currentEpoch}`,
          { ...details, currentEpoch: decision.currentEpoch },
        )
    }
  }

  /**
   * Records a batch that is now in the log (stamped header: baseOffset is final), appended at
   * `nowMs`.
   */
  update(header: BatchHeader, sizeInBytes: number, nowMs: number = Date.now()): void {
    if (!isIdempotent(header)) return
    let entry = this.#producers.get(header.producerId)
    if (entry === undefined || header.producerEpoch > entry.producerEpoch) {
      entry = { producerEpoch: header.producerEpoch, batches: [], lastTimestamp: nowMs }
      this.#producers.set(header.producerId, entry)
    }
    entry.lastTimestamp = nowMs
    entry.batches.push({
      baseSequence: header.baseSequence,
      lastSequence: header.baseSequence + header.lastOffsetDelta,
      baseOffset: header.baseOffset,
      lastOffset: batchLastOffset(header),
      firstTimestamp: header.firstTimestamp,
      maxTimestamp: header.maxTimestamp,
      sizeInBytes,
    })
    if (entry.batches.length > PRODUCER_BATCH_CACHE_SIZE) entry.batches.shift()
  }

  clear(): void {
    this.#producers.clear()
  }

  /** Drops producers whose last write is more than `expirationMs` before `nowMs`; returns how many. */
  removeExpired(nowMs: number, expirationMs: number): number {
    let removed = 0
    for (const [id, entry] of this.#producers) {
      if (nowMs - entry.lastTimestamp > expirationMs) {
        this.#producers.delete(id)
        removed++
      }
    }
    return removed
  }

  encode(offset: number): Buffer {
    const producers = [...this.#producers].map(([id, e]) => [
      id,
      e.producerEpoch,
      e.batches.map(batchTuple),
      e.lastTimestamp,
    ])
    const body = pack({ version: SNAPSHOT_VERSION, offset, producers })
    const out = Buffer.allocUnsafe(CRC_SIZE + body.length)
    out.writeUInt32BE(crc32c(body) >>> 0, 0)
    body.copy(out, CRC_SIZE)
    return out
  }

  /** Replaces the state with a snapshot's; returns false (state untouched) if it is corrupt. */
  decode(bytes: Buffer, expectedOffset: number): boolean {
    const parsed = parseSnapshot(bytes, expectedOffset)
    if (parsed === undefined) return false
    this.#producers.clear()
    for (const [id, entry] of parsed) this.#producers.set(id, entry)
    return true
  }
}

type BatchTuple = [number, number, number, number, number, number, number]

function batchTuple(b: ProducerBatch): BatchTuple {
  return [
    b.baseSequence,
    b.lastSequence,
    b.baseOffset,
    b.lastOffset,
    b.firstTimestamp,
    b.maxTimestamp,
    b.sizeInBytes,
  ]
}

function parseSnapshot(bytes: Buffer, expectedOffset: number): Map<number, ProducerEntry> | undefined {
  if (bytes.length < CRC_SIZE) return undefined
  const body = bytes.subarray(CRC_SIZE)
  if (crc32c(body) >>> 0 !== bytes.readUInt32BE(0)) return undefined
  try {
    const data = unpack(body) as {
      version: number
      offset: number
      producers: [number, number, BatchTuple[], number?][]
    }
    if (data.version !== SNAPSHOT_VERSION || data.offset !== expectedOffset) return undefined
    const out = new Map<number, ProducerEntry>()
    for (const [id, producerEpoch, tuples, lastTimestamp] of data.producers) {
      const batches = tuples.map(fromTuple)
      out.set(id, {
        producerEpoch,
        batches,
        lastTimestamp: lastTimestamp ?? Math.max(...batches.map((b) => b.maxTimestamp)),
      })
    }
    return out
  } catch {
    return undefined
  }
}

function fromTuple(t: BatchTuple): ProducerBatch {
  const [baseSequence, lastSequence, baseOffset, lastOffset, firstTimestamp, maxTimestamp, sizeInBytes] = t
  return { baseSequence, lastSequence, baseOffset, lastOffset, firstTimestamp, maxTimestamp, sizeInBytes }
}

export function snapshotFile(dir: string, offset: number): string {
  return offsetFilePath(dir, offset, SNAPSHOT_FILE_SUFFIX)
}

/** Writes `<offset>.snapshot` (temp + rename, no fsync: it is rebuildable from the log). */
export function writeSnapshot(dir: string, state: ProducerStateManager, offset: number): void {
  writeFileAtomically(snapshotFile(dir, offset), state.encode(offset), { durable: false })
}

/**
 * Loads the newest readable snapshot at or below `maxOffset` into `state`; returns its offset, or
 * undefined when none is usable (the state is then empty).
 */
export function loadLatestSnapshot(
  dir: string,
  snapshotOffsets: readonly number[],
  maxOffset: number,
  state: ProducerStateManager,
): number | undefined {
  state.clear()
  const candidates = snapshotOffsets.filter((o) => o <= maxOffset).sort((a, b) => b - a)
  for (const offset of candidates) {
    let bytes: Buffer
    try {
      bytes = fs.readFileSync(snapshotFile(dir, offset))
    } catch {
      continue
    }
    if (state.decode(bytes, offset)) return offset
  }
  return undefined
}

/** Deletes snapshots above `maxOffset` and all but the newest `keep` of the rest; returns those left. */
export function pruneSnapshots(
  dir: string,
  snapshotOffsets: readonly number[],
  maxOffset: number,
  keep: number,
): number[] {
  const sorted = [...snapshotOffsets].sort((a, b) => a - b)
  const kept = sorted.filter((o) => o <= maxOffset).slice(-keep)
  for (const offset of sorted) if (!kept.includes(offset)) removeFileIfExists(snapshotFile(dir, offset))
  return kept
}
