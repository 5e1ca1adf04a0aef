/**
 * File names and directory housekeeping for one partition directory.
 *
 * On disk: `<20-digit base offset>.log|.index|.timeindex`, `<20-digit offset>.snapshot`, plus
 * `recovery-point` and `clean-shutdown` (Kafka's LogFileUtils naming). Files ending in `.tmp`
 * are half-written checkpoints and `.deleted` files are segments on their way out.
 *
 * Invariants: a name is the base offset zero-padded to 20 digits, so names sort like offsets.
 * Thread: the partition's owner thread; everything here is synchronous except `fsyncDir`.
 * Crash: a create, rename or unlink is durable only after the directory is fsynced; before that
 * a crash can bring back a deleted file or lose a new one, which recovery tolerates.
 */
import fs from 'node:fs'
import path from 'node:path'

export const LOG_FILE_SUFFIX = '.log'
export const INDEX_FILE_SUFFIX = '.index'
export const TIME_INDEX_FILE_SUFFIX = '.timeindex'
export const SNAPSHOT_FILE_SUFFIX = '.snapshot'
export const TEMP_FILE_SUFFIX = '.tmp'
export const DELETED_FILE_SUFFIX = '.deleted'
export const RECOVERY_POINT_FILE = 'recovery-point'
export const CLEAN_SHUTDOWN_FILE = 'clean-shutdown'

/** 20 digits hold any int64 offset (2^63 has 19), as in Kafka's LogFileUtils. */
const OFFSET_DIGITS = 20
const OFFSET_FILE_NAME = /^(\d{20})(\.log|\.index|\.timeindex|\.snapshot)$/

export function filenamePrefixFromOffset(offset: number): string {
  return String(offset).padStart(OFFSET_DIGITS, '0')
}

export function offsetFilePath(dir: string, offset: number, suffix: string): string {
  return path.join(dir, filenamePrefixFromOffset(offset) + suffix)
}

/** Parses `<20 digits><suffix>`; undefined for any other name. */
export function parseOffsetFileName(name: string): { offset: number; suffix: string } | undefined {
  const match = OFFSET_FILE_NAME.exec(name)
  if (match === null) return undefined
  return { offset: Number(match[1]), suffix: match[2] ?? '' }
}

export interface PartitionDirListing {
  /** Base offsets of .log files, ascending. */
  logs: number[]
  /** Offsets of .snapshot files, ascending. */
  snapshots: number[]
  /** Files to remove: indexes without a log, temp and deleted files. */
  strays: string[]
}

export function listPartitionDir(dir: string): PartitionDirListing {
  const names = fs.readdirSync(dir)
  const logs = new Set<number>()
  const indexes: Array<{ name: string; offset: number }> = []
  const snapshots: number[] = []
  const strays: string[] = []
  for (const name of names) {
    if (name.endsWith(TEMP_FILE_SUFFIX) || name.endsWith(DELETED_FILE_SUFFIX)) {
      strays.push(name)
      continue
    }
    const parsed = parseOffsetFileName(name)
    if (parsed === undefined) continue
    if (parsed.suffix === LOG_FILE_SUFFIX) logs.add(parsed.offset)
    else if (parsed.suffix === SNAPSHOT_FILE_SUFFIX) snapshots.push(parsed.offset)
    else indexes.push({ name, offset: parsed.offset })
  }
  for (const index of indexes) if (!logs.has(index.offset)) strays.push(index.name)
  return {
    logs: [...logs].sort((a, b) => a - b),
    snapshots: snapshots.sort((a, b) => a - b),
    strays: strays.sort(),
  }
}

/** Makes creates, renames and unlinks in `dir` durable. Used at open and close. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** The asynchronous form, for the flush path, so appends keep going while it runs. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export function removeFileIfExists(file: string): boolean {
  try {
    fs.unlinkSync(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Creates `dir` and its parents; fsyncs the parent when `dir` is new so the entry survives a crash. */
export function ensureDir(dir: string): void {
  if (fs.existsSync(dir)) return
  fs.mkdirSync(dir, { recursive: true })
  fsyncDirSync(path.dirname(dir))
}
