/**
 * Opening a partition directory: decide what of it to trust, validate the rest, and either repair
 * a torn tail or refuse to touch a damaged log (Kafka's LogLoader, with the NATS 2.12 lesson).
 *
 * On disk: reads every file of the partition directory (segment-files.ts lists them); writes
 * only after deciding the partition is not offline: removes strays, truncates a torn tail
 * (ftruncate + fsync), rewrites index files, deletes the clean-shutdown marker, fsyncs the dir.
 *
 * Rules:
 * - With `clean-shutdown` present, the indexes are trusted if sane and only the active segment's
 *   batches after its last index entry are walked (lengths, dense offsets) to find the end, which
 *   must equal the recovery point. Anything else falls back to full validation.
 * - Otherwise every batch from the segment holding the recovery point to the end is validated:
 *   length, magic, CRC32C, dense offsets. Those segments get their indexes rebuilt.
 * - At the first bad batch: if a valid batch follows it in that segment, or a later segment holds
 *   data, this is not a torn write but damage in the middle of the log. Nothing is truncated or
 *   deleted; the partition comes up offline with an error naming the file and byte position.
 *   Otherwise it is a torn tail and is cut off (reported through onWarning).
 * - A batch with the wrong base offset is a bad batch like any other (baseOffset is outside the
 *   CRC, so a flipped bit there is only caught by the dense-offset check).
 * - leaderEpoch is outside the CRC too (Kafka's layout); damage there cannot be detected.
 *
 * Thread: the partition's owner thread, synchronously, before the log accepts any request.
 * Crash: recovery is idempotent; a crash in the middle of it leaves a state it handles again.
 */
import fs from 'node:fs'
import path from 'node:path'
import { PartitionOfflineError, type StrataError } from '../errors.js'
import { readFully } from './batch-scanner.js'
import { hasMarker, readCheckpoint } from './checkpoint-file.js'
import { LogSegment, type SegmentOptions } from './log-segment.js'
import {
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  CURRENT_MAGIC,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MIN_BATCH_LENGTH,
  validateBatch,
} from './record-batch.js'
import {
  CLEAN_SHUTDOWN_FILE,
  ensureDir,
  fsyncDirSync,
  LOG_FILE_SUFFIX,
  listPartitionDir,
  offsetFilePath,
  RECOVERY_POINT_FILE,
  removeFileIfExists,
} from './segment-files.js'
import { readLastTimestamp } from './time-index.js'

export interface RecoveredLog {
  /** Oldest first; the last one is active. Empty when offline. */
  segments: LogSegment[]
  offline: StrataError | undefined
  /** True when the clean-shutdown marker was honoured (nothing needed validating). */
  clean: boolean
  /** Segments whose batches were validated (they may sit only in the page cache). */
  validated: LogSegment[]
  /** Offsets of the .snapshot files found. */
  snapshots: number[]
}

interface SegmentFile {
  baseOffset: number
  file: string
  size: number
  rollStartMs: number
}

export function recoverLog(dir: string, options: SegmentOptions): RecoveredLog {
  ensureDir(dir)
  const listing = listPartitionDir(dir)
  const files = listing.logs.map((base) => segmentFile(dir, base))
  const recoveryPoint = readCheckpoint(path.join(dir, RECOVERY_POINT_FILE)) ?? 0
  let result: Omit<RecoveredLog, 'snapshots'> | undefined
  if (files.length === 0) result = { segments: [], offline: undefined, clean: false, validated: [] }
  else if (hasMarker(path.join(dir, CLEAN_SHUTDOWN_FILE)))
    result = openClean(dir, files, recoveryPoint, options)
  result ??= validateFrom(dir, files, recoveryPoint, options)
  if (result.offline !== undefined) return { ...result, snapshots: listing.snapshots }
  for (const stray of listing.strays) {
    removeFileIfExists(path.join(dir, stray))
    options.onWarning(`removed stray file ${path.join(dir, stray)}`)
  }
  if (result.segments.length === 0) result.segments.push(LogSegment.create(dir, 0, options, Date.now()))
  result.segments.at(-1)?.activate()
  removeFileIfExists(path.join(dir, CLEAN_SHUTDOWN_FILE))
  fsyncDirSync(dir)
  return { ...result, snapshots: listing.snapshots }
}

function segmentFile(dir: string, baseOffset: number): SegmentFile {
  const file = offsetFilePath(dir, baseOffset, LOG_FILE_SUFFIX)
  const stat = fs.statSync(file)
  // birthtime (statx) is the segment's creation time on ext4/xfs; 0 where the fs lacks it.
  return {
    baseOffset,
    file,
    size: stat.size,
    rollStartMs: stat.birthtimeMs > 0 ? stat.birthtimeMs : Date.now(),
  }
}

/** A sealed segment below the validated range: facts from the file names and the time index. */
function trustedSegment(
  dir: string,
  f: SegmentFile,
  nextOffset: number,
  options: SegmentOptions,
): LogSegment {
  const maxTimestamp = readLastTimestamp(offsetFilePath(dir, f.baseOffset, '.timeindex'))
  const segment = LogSegment.existing(dir, f.baseOffset, options, {
    size: f.size,
    nextOffset,
    maxTimestamp: maxTimestamp ?? -1,
    rollStartMs: f.rollStartMs,
  })
  // Without a readable last entry the max timestamp is unknown: load (and if need be rebuild) now.
  if (maxTimestamp === undefined && f.size > 0) segment.timeIndex()
  return segment
}

function openClean(
  dir: string,
  files: SegmentFile[],
  recoveryPoint: number,
  options: SegmentOptions,
): Omit<RecoveredLog, 'snapshots'> | undefined {
  const last = files.at(-1) as SegmentFile
  const active = LogSegment.existing(dir, last.baseOffset, options, {
    size: 0,
    nextOffset: last.baseOffset,
    maxTimestamp: -1,
    rollStartMs: last.rollStartMs,
  })
  if (!active.adoptTail(last.size) || active.nextOffset !== recoveryPoint) {
    active.closeHandles()
    options.onWarning(`${dir}: clean-shutdown marker present but the log end does not match; validating`)
    return undefined
  }
  const segments = files
    .slice(0, -1)
    .map((f, i) => trustedSegment(dir, f, files[i + 1]?.baseOffset ?? 0, options))
  segments.push(active)
  return { segments, offline: undefined, clean: true, validated: [] }
}

/** Index of the segment holding `offset`: the last whose base offset is ≤ it (0 if none). */
export function segmentIndexFor(baseOffsets: readonly number[], offset: number): number {
  let found = 0
  for (let i = 0; i < baseOffsets.length; i++) if ((baseOffsets[i] ?? 0) <= offset) found = i
  return found
}

type SegmentCheck =
  | { kind: 'ok'; segment: LogSegment }
  | { kind: 'bad'; segment: LogSegment; position: number; reason: string }

function validateFrom(
  dir: string,
  files: SegmentFile[],
  recoveryPoint: number,
  options: SegmentOptions,
): Omit<RecoveredLog, 'snapshots'> {
  const first = segmentIndexFor(
    files.map((f) => f.baseOffset),
    recoveryPoint,
  )
  const segments = files
    .slice(0, first)
    .map((f, i) => trustedSegment(dir, f, files[i + 1]?.baseOffset ?? 0, options))
  const validated: LogSegment[] = []
  for (let i = first; i < files.length; i++) {
    const f = files[i] as SegmentFile
    const check = validateSegment(dir, f, options)
    const laterData = files.slice(i + 1).some((later) => later.size > 0)
    if (check.kind === 'bad') {
      const offline = damage(f, check, laterData)
      if (offline !== undefined) return goOffline(offline, [...segments, check.segment])
      cutTornTail(f, check, options)
    }
    segments.push(check.segment)
    validated.push(check.segment)
    const next = files[i + 1]
    if (next === undefined) break
    if (check.kind === 'bad' || check.segment.nextOffset !== next.baseOffset) {
      if (laterData) {
        const reason = `offset gap: ${f.file} ends at offset ${check.segment.nextOffset} but the next segment starts at ${next.baseOffset}`
        return goOffline(offlineError(f, check.segment.size, reason), segments)
      }
      dropEmptySegments(files.slice(i + 1), options)
      break
    }
  }
  for (const segment of validated.slice(0, -1)) segment.seal()
  for (const segment of validated) segment.writeIndexFiles()
  return { segments, offline: undefined, clean: false, validated }
}

function goOffline(offline: StrataError, opened: LogSegment[]): Omit<RecoveredLog, 'snapshots'> {
  for (const segment of opened) segment.closeHandles()
  return { segments: [], offline, clean: false, validated: [] }
}

/** Walks every batch with full validation, indexing the valid ones; stops at the first bad one. */
function validateSegment(dir: string, f: SegmentFile, options: SegmentOptions): SegmentCheck {
  const segment = LogSegment.rebuilding(dir, f.baseOffset, options, f.rollStartMs)
  const scanner = segment.scanner(0, true, f.size)
  let expected = f.baseOffset
  for (;;) {
    const step = scanner.next()
    if (step.kind === 'end') return { kind: 'ok', segment }
    if (step.kind === 'bad') return { kind: 'bad', segment, position: step.position, reason: step.reason }
    if (step.header.baseOffset !== expected) {
      const reason = `offset mismatch: batch has base offset ${step.header.baseOffset}, expected ${expected}`
      return { kind: 'bad', segment, position: step.position, reason }
    }
    segment.indexBatch(step.header, step.position, step.size)
    expected = segment.nextOffset
  }
}

/** The offline error when the bad batch is not a torn tail; undefined when it is one. */
function damage(f: SegmentFile, check: SegmentCheck & { kind: 'bad' }, laterData: boolean) {
  if (laterData) return offlineError(f, check.position, `${check.reason}; later segments hold data`)
  const validAfter = findValidBatchAfter(f.file, check.position + 1, f.size)
  if (validAfter !== undefined) {
    return offlineError(f, check.position, `${check.reason}; a valid batch follows at position ${validAfter}`)
  }
  return undefined
}

function offlineError(f: SegmentFile, position: number, reason: string): StrataError {
  return new PartitionOfflineError(
    `corrupt record batch in ${f.file} at byte position ${position} (${reason}); refusing to truncate valid data`,
    { file: f.file, position, reason },
  )
}

function cutTornTail(f: SegmentFile, check: SegmentCheck & { kind: 'bad' }, options: SegmentOptions): void {
  const fd = fs.openSync(f.file, 'r+')
  try {
    fs.ftruncateSync(fd, check.position)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  options.onWarning(
    `truncated torn tail of ${f.file} at byte position ${check.position} (${check.reason}); dropped ${f.size - check.position} bytes`,
  )
}

function dropEmptySegments(files: SegmentFile[], options: SegmentOptions): void {
  for (const f of files) {
    for (const suffix of [LOG_FILE_SUFFIX, '.index', '.timeindex']) {
      removeFileIfExists(offsetFilePath(path.dirname(f.file), f.baseOffset, suffix))
    }
    options.onWarning(`removed empty segment ${f.file} past the recovered log end`)
  }
}

/** 1 MiB windows; each read overlaps the next by one header so no candidate is missed. */
const SEARCH_CHUNK_BYTES = 1024 * 1024

/**
 * Looks for any CRC-valid batch starting in [from, end): magic 1, a length that fits, and a
 * matching CRC. A record that itself contains a whole batch could be mistaken for one, which
 * errs on the side of going offline instead of deleting data.
 */
export function findValidBatchAfter(file: string, from: number, end: number): number | undefined {
  const fd = fs.openSync(file, 'r')
  try {
    const window = Buffer.allocUnsafe(SEARCH_CHUNK_BYTES + BATCH_HEADER_SIZE)
    for (let start = from; start + BATCH_HEADER_SIZE <= end; start += SEARCH_CHUNK_BYTES) {
      const n = readFully(fd, window, Math.min(window.length, end - start), start)
      const found = searchWindow(fd, window, n, start, end)
      if (found !== undefined) return found
    }
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

function searchWindow(fd: number, window: Buffer, n: number, start: number, end: number): number | undefined {
  const last = Math.min(n - BATCH_HEADER_SIZE, SEARCH_CHUNK_BYTES - 1)
  for (let i = 0; i <= last; i++) {
    if (window[i + MAGIC_OFFSET] !== CURRENT_MAGIC) continue
    const length = window.readInt32BE(i + BATCH_LENGTH_OFFSET)
    const position = start + i
    if (length < MIN_BATCH_LENGTH || position + LOG_OVERHEAD + length > end) continue
    const batch = Buffer.allocUnsafe(LOG_OVERHEAD + length)
    if (readFully(fd, batch, batch.length, position) === batch.length && validateBatch(batch).ok)
      return position
  }
  return undefined
}
