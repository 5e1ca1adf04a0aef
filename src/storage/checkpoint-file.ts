/**
 * Small checkpoint files: `recovery-point` and the `clean-shutdown` marker.
 *
 * On disk: `recovery-point` is text, one decimal offset and a newline ("1234\n"). It is written to
 * `recovery-point.tmp` and renamed over the old one. `clean-shutdown` is an empty file.
 *
 * Invariants: the recovery point never exceeds what was fsynced, so a stale value only makes
 * recovery validate more. Anything that does not parse reads as "no checkpoint" (offset 0).
 * Thread: the partition's owner thread; synchronous.
 * Crash: the rename leaves either the old or the new file; without `durable` the content may be
 * lost or empty after a power failure, which reads as no checkpoint, which is safe.
 */
import fs from 'node:fs'
import { TEMP_FILE_SUFFIX } from './segment-files.js'

const CHECKPOINT_TEXT = /^(\d{1,16})\n$/

export function readCheckpoint(file: string): number | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const match = CHECKPOINT_TEXT.exec(text)
  if (match === null) return undefined
  const value = Number(match[1])
  return Number.isSafeInteger(value) ? value : undefined
}

/** Writes tmp then renames; `durable` also fsyncs the content before the rename. */
export function writeCheckpoint(file: string, offset: number, options: { durable: boolean }): void {
  writeFileAtomically(file, Buffer.from(`${offset}\n`), options)
}

export function writeFileAtomically(file: string, data: Uint8Array, options: { durable: boolean }): void {
  const tmp = file + TEMP_FILE_SUFFIX
  const fd = fs.openSync(tmp, 'w')
  try {
    fs.writeSync(fd, data)
    if (options.durable) fs.fdatasyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

export function writeMarker(file: string): void {
  fs.closeSync(fs.openSync(file, 'w'))
}

export function hasMarker(file: string): boolean {
  return fs.existsSync(file)
}
