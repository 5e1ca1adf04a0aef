/**
 * The data directory's lock: one broker per data directory, as Kafka's `.lock`.
 *
 * On disk: `<data-dir>/.lock` holds `{"pid":…,"startTime":…,"bootId":…}` (JSON): the holder's pid,
 * its start time in clock ticks since boot (field 22 of /proc/<pid>/stat) and the kernel's boot id
 * (start times restart at each boot); the last two are null where /proc is missing.
 *
 * Why a file and not an OS lock: Node has no flock/fcntl. The npm packages that add one are native
 * addons (fs-ext compiles with node-gyp at install; fs-native-extensions ships prebuilds for some
 * platforms only), a build and platform dependency for one call at start. A file that names its
 * holder by pid *and* start time is as exact on Linux: a pid reused by another process after a
 * kill -9 has another start time, so the lock is known to be stale and is taken over.
 *
 * Invariants: the lock file appears whole or not at all (written and fsynced under a temp name,
 * then hard-linked to `.lock`, which fails if one exists: an exclusive create that is never seen
 * half-written). A stale lock is removed only while holding `.lock.takeover` (exclusive create),
 * and only if it still holds what was judged stale, so two brokers starting at once over a stale
 * lock cannot both win.
 * Thread: the main thread, synchronously, once at start and once at close.
 * Crash: a holder killed at any point leaves a lock naming a dead process: the next start takes it
 * over. A starter killed inside the takeover leaves `.lock.takeover`, ignored once it is old.
 */
import fs from 'node:fs'
import { join, resolve } from 'node:path'
import { fsyncDirSync } from './segment-files.js'

export const LOCK_FILE = '.lock'
const TAKEOVER_FILE = '.lock.takeover'
/** A takeover takes microseconds; a guard this old was left by a starter that died inside it. */
const STALE_TAKEOVER_MS = 10_000

interface LockHolder {
  pid: number
  startTime: number | null
  bootId: string | null
}

function currentBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  readonly holderPid: number

  constructor(dataDir: string, holderPid: number) {
    super(
      `data directory ${dataDir} is locked by another broker (pid ${holderPid}); ` +
        `stop it or use another --data-dir`,
    )
    this.name = 'DataDirLockedError'
    this.holderPid = holderPid
  }
}

/** The process's start time in clock ticks since boot (Linux); null without /proc. */
export function processStartTime(pid: number): number | null | 'gone' {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ESRCH') return fs.existsSync('/proc/self/stat') ? 'gone' : null
    throw err
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[19])
}

function isAlive(holder: LockHolder): boolean {
  const bootId = currentBootId()
  // Written before the last reboot: whatever now runs under that pid is another process.
  if (bootId !== null && holder.bootId !== null && bootId !== holder.bootId) return false
  const startTime = processStartTime(holder.pid)
  if (startTime === 'gone') return false
  if (startTime !== null && holder.startTime !== null) return startTime === holder.startTime
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readHolder(path: string): { text: string; holder: LockHolder | undefined } | undefined {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>
    if (Number.isInteger(parsed.pid) && (parsed.pid as number) > 0) {
      const holder = {
        pid: parsed.pid as number,
        startTime: parsed.startTime ?? null,
        bootId: parsed.bootId ?? null,
      }
      return { text, holder }
    }
  } catch {
    // Not ours, or damaged: nobody can be named as its holder, so it is stale.
  }
  return { text, holder: undefined }
}

function writeSynced(path: string, text: string): void {
  const fd = fs.openSync(path, 'w')
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export class DataDirLock {
  readonly #path: string
  readonly #content: string
  #released = false

  private constructor(path: string, content: string) {
    this.#path = path
    this.#content = content
  }

  /**
   * Takes the lock of `dataDir` (creating the directory), or throws DataDirLockedError naming the
   * live holder. A lock whose holder is gone is taken over.
   */
  static acquire(dataDir: string): DataDirLock {
    const dir = resolve(dataDir)
    fs.mkdirSync(dir, { recursive: true })
    const path = join(dir, LOCK_FILE)
    const startTime = processStartTime(process.pid)
    const content = JSON.stringify({
      pid: process.pid,
      startTime: startTime === 'gone' ? null : startTime,
      bootId: currentBootId(),
    })
    const tmp = `${path}.${process.pid}.tmp`
    writeSynced(tmp, content)
    try {
      // Bounded: each round either links, finds a live holder, or removes one stale lock.
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          fs.linkSync(tmp, path)
          fsyncDirSync(dir)
          return new DataDirLock(path, content)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        }
        const found = readHolder(path)
        if (found === undefined) continue
        if (found.holder && isAlive(found.holder)) throw new DataDirLockedError(dir, found.holder.pid)
        removeStaleLock(dir, path, found.text)
      }
      throw new Error(`could not take the lock of data directory ${dir}: it keeps changing hands`)
    } finally {
      fs.rmSync(tmp, { force: true })
    }
  }

  /** Removes the lock if it is still ours (idempotent). */
  release(): void {
    if (this.#released) return
    this.#released = true
    if (readHolder(this.#path)?.text === this.#content) fs.rmSync(this.#path, { force: true })
  }
}

/** Removes `path` if it still holds `staleText`, under the takeover guard. */
function removeStaleLock(dir: string, path: string, staleText: string): void {
  const guard = join(dir, TAKEOVER_FILE)
  let fd: number
  try {
    fd = fs.openSync(guard, 'wx')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    // Another starter is taking over; its lock will be live when it is done. Wait a moment.
    const age = Date.now() - (fs.statSync(guard, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age > STALE_TAKEOVER_MS) fs.rmSync(guard, { force: true })
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    return
  }
  try {
    if (readHolder(path)?.text === staleText) fs.rmSync(path, { force: true })
  } finally {
    fs.closeSync(fd)
    fs.rmSync(guard, { force: true })
  }
}
