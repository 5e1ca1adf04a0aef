/**
 * Data directory lock (issue 11 item 1): a live holder refuses a second taker; a lock naming a dead
 * process, a reused pid (same pid, other start time) or nothing readable is taken over.
 */
import fs from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DataDirLock,
  DataDirLockedError,
  LOCK_FILE,
  processStartTime,
} from '../../../src/storage/data-dir-lock.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'strata-lock-'))
  dirs.push(dir)
  return dir
}

describe('item 1: DataDirLock', () => {
  it('refuses a second taker while held, naming the holder, and frees on release', () => {
    const dir = tempDir()
    const lock = DataDirLock.acquire(dir)
    const held = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'))
    expect(held.pid).toBe(process.pid)
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirLockedError)
    expect(() => DataDirLock.acquire(dir)).toThrow(`pid ${process.pid}`)
    lock.release()
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false)
    DataDirLock.acquire(dir).release()
  })

  it('takes over a lock whose pid was reused by another process (other start time)', () => {
    const dir = tempDir()
    const startTime = processStartTime(process.pid)
    expect(typeof startTime).toBe('number')
    fs.writeFileSync(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, startTime: (startTime as number) - 1 }),
    )
    const lock = DataDirLock.acquire(dir)
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
      startTime,
    })
    lock.release()
  })

  it('takes over a lock written before the last reboot (other boot id), even naming a live pid', () => {
    const dir = tempDir()
    const startTime = processStartTime(process.pid)
    fs.writeFileSync(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, startTime, bootId: '00000000-0000-0000-0000-000000000000' }),
    )
    DataDirLock.acquire(dir).release()
  })

  it('takes over an empty or unreadable lock file', () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, LOCK_FILE), '')
    DataDirLock.acquire(dir).release()
    fs.writeFileSync(path.join(dir, LOCK_FILE), '{"pid":')
    DataDirLock.acquire(dir).release()
    expect(fs.readdirSync(dir)).toEqual([])
  })
})
