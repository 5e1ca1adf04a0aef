/**
 * Recovery contract (log-recovery.ts, README "What a crash leaves behind"): after an unclean
 * shutdown every batch from the recovery point is validated. A bad batch with nothing valid after
 * it is a torn tail and is cut off; a bad batch followed by valid data takes the partition offline
 * with an error naming the file and byte position, and nothing on disk is changed. Indexes that are
 * missing or garbage are rebuilt and lookups stay right.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { PartitionOfflineError } from '../../../src/errors.js'
import { findValidBatchAfter, segmentIndexFor } from '../../../src/storage/log-recovery.js'
import { PartitionLog } from '../../../src/storage/partition-log.js'
import { readBatchHeader, recordSlices } from '../../../src/storage/record-batch.js'
import { batchOf, defaultConfig, listLogs, logFile, smallConfig, test } from './storage-fixtures.js'

const CLEAN = 'clean-shutdown'

/** Writes `count` batches of 3 records, closes cleanly, and returns each batch's file position and size. */
async function writeLog(dir: string, count: number, config = defaultConfig) {
  const log = await PartitionLog.open(dir, config)
  const positions: Array<{ position: number; size: number; baseOffset: number }> = []
  let position = 0
  for (let i = 0; i < count; i++) {
    const batch = batchOf(`r${i}`, 3)
    const info = log.append(batch)
    positions.push({ position, size: batch.length, baseOffset: info.baseOffset })
    position += batch.length
  }
  await log.close()
  return positions
}

function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true })
}

function allOffsets(log: PartitionLog): number[] {
  return log.read(log.logStartOffset, 1e9, 1e15).flatMap((b) => [...recordSlices(b)].map((r) => r.offset))
}

async function openCollecting(dir: string, config = defaultConfig) {
  const warnings: string[] = []
  const log = await PartitionLog.open(dir, config, { onWarning: (m) => warnings.push(m) })
  return { log, warnings }
}

describe('torn tail', () => {
  test('cutting the last batch at every length recovers exactly the batches before it', async ({ dir }) => {
    const template = path.join(dir, 'template')
    const batches = await writeLog(template, 4)
    const last = batches.at(-1) as (typeof batches)[number]
    for (let cut = 1; cut <= last.size; cut++) {
      const copy = path.join(dir, `cut-${cut}`)
      copyDir(template, copy)
      fs.rmSync(path.join(copy, CLEAN))
      fs.truncateSync(logFile(copy, 0), last.position + last.size - cut)
      const { log, warnings } = await openCollecting(copy)
      expect(log.offlineError).toBeUndefined()
      expect(log.logEndOffset).toBe(9)
      expect(allOffsets(log)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
      expect(fs.statSync(logFile(copy, 0)).size).toBe(last.position)
      if (cut < last.size) expect(warnings.join('\n')).toMatch(/truncated torn tail .* at byte position 399/)
      // Appending after recovery is checked on a sample of cuts: each costs a few more fsyncs.
      if (cut % 16 === 1 || cut === last.size) {
        expect(log.append(batchOf('next', 2)).baseOffset).toBe(9)
        expect(allOffsets(log)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      }
      await log.close()
      fs.rmSync(copy, { recursive: true })
    }
  })

  test('a flipped byte in the last batch truncates it (every byte the CRC or offset check covers)', async ({
    dir,
  }) => {
    const template = path.join(dir, 'template')
    const batches = await writeLog(template, 3)
    const last = batches.at(-1) as (typeof batches)[number]
    for (let i = 0; i < last.size; i++) {
      // leaderEpoch (bytes 12..15) is outside the CRC in Kafka's layout: damage there is invisible.
      if (i >= 12 && i < 16) continue
      const copy = path.join(dir, `flip-${i}`)
      copyDir(template, copy)
      fs.rmSync(path.join(copy, CLEAN))
      flipByte(logFile(copy, 0), last.position + i)
      const { log } = await openCollecting(copy)
      expect(log.offlineError, `flipped byte ${i}`).toBeUndefined()
      expect(log.logEndOffset, `flipped byte ${i}`).toBe(6)
      expect(fs.statSync(logFile(copy, 0)).size).toBe(last.position)
      await log.close()
      fs.rmSync(copy, { recursive: true })
    }
  })

  test('a zero-filled tail after the last batch is treated as torn and cut off', async ({ dir }) => {
    await writeLog(dir, 3)
    fs.rmSync(path.join(dir, CLEAN))
    const size = fs.statSync(logFile(dir, 0)).size
    fs.appendFileSync(logFile(dir, 0), Buffer.alloc(3 * 4096))
    const { log, warnings } = await openCollecting(dir)
    expect(log.offlineError).toBeUndefined()
    expect(log.logEndOffset).toBe(9)
    expect(fs.statSync(logFile(dir, 0)).size).toBe(size)
    expect(warnings.some((w) => w.includes('bad length'))).toBe(true)
    await log.close()
  })

  test('a torn tail followed by an empty newer segment: the empty segment goes too', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    for (let i = 0; i < 12; i++) log.append(batchOf(`x${i}`, 2))
    log.roll()
    const segments = listLogs(dir)
    const lastSealed = path.join(dir, segments.at(-2) as string)
    fs.truncateSync(lastSealed, fs.statSync(lastSealed).size - 5)
    const { log: reopened, warnings } = await openCollecting(dir, smallConfig)
    expect(reopened.offlineError).toBeUndefined()
    expect(listLogs(dir)).toEqual(segments.slice(0, -1))
    expect(reopened.logEndOffset).toBe(22)
    expect(warnings.join('\n')).toMatch(/removed empty segment/)
    expect(reopened.append(batchOf('y')).baseOffset).toBe(22)
    await reopened.close()
    await log.close().catch(() => {})
  })

  test('with the clean-shutdown marker but a damaged tail, recovery still validates', async ({ dir }) => {
    const batches = await writeLog(dir, 3)
    const last = batches.at(-1) as (typeof batches)[number]
    fs.truncateSync(logFile(dir, 0), last.position + 10)
    const { log, warnings } = await openCollecting(dir)
    expect(log.logEndOffset).toBe(6)
    expect(warnings.join('\n')).toMatch(/clean-shutdown marker present/)
    await log.close()
  })
})

describe('damage in the middle of the log', () => {
  test('a bad batch followed by valid ones takes the partition offline and changes nothing', async ({
    dir,
  }) => {
    const batches = await writeLog(dir, 5)
    fs.rmSync(path.join(dir, CLEAN))
    const second = batches[1] as (typeof batches)[number]
    flipByte(logFile(dir, 0), second.position + 70)
    const before = fs.readFileSync(logFile(dir, 0))
    const { log, warnings } = await openCollecting(dir)
    expect(log.offlineError).toBeInstanceOf(PartitionOfflineError)
    expect(log.offlineError?.message).toContain(logFile(dir, 0))
    expect(log.offlineError?.message).toContain(`byte position ${second.position}`)
    expect((log.offlineError as InstanceType<typeof PartitionOfflineError>).details).toMatchObject({
      file: logFile(dir, 0),
      position: second.position,
    })
    expect(warnings).toHaveLength(1)
    expect(() => log.append(batchOf('no'))).toThrow(PartitionOfflineError)
    expect(() => log.read(0, 100, 10)).toThrow(PartitionOfflineError)
    await expect(log.flush()).rejects.toThrow(PartitionOfflineError)
    await log.close()
    expect(fs.readFileSync(logFile(dir, 0)).equals(before)).toBe(true)
    expect(fs.existsSync(path.join(dir, CLEAN))).toBe(false)
  })

  test('a damaged length field hiding valid batches also goes offline', async ({ dir }) => {
    const batches = await writeLog(dir, 5)
    fs.rmSync(path.join(dir, CLEAN))
    const second = batches[1] as (typeof batches)[number]
    const file = logFile(dir, 0)
    const bytes = fs.readFileSync(file)
    bytes.writeInt32BE(1_000_000, second.position + 8)
    fs.writeFileSync(file, bytes)
    const { log } = await openCollecting(dir)
    expect(log.offlineError?.message).toMatch(/a valid batch follows at position/)
    expect(fs.readFileSync(file).equals(bytes)).toBe(true)
    await log.close()
  })

  test('a torn end of a sealed segment with data in a later segment goes offline', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    for (let i = 0; i < 30; i++) log.append(batchOf(`x${i}`, 2))
    // No close and no flush that syncs a rolled segment: the recovery point stays at 0.
    const first = logFile(dir, 0)
    fs.truncateSync(first, fs.statSync(first).size - 3)
    const before = listLogs(dir).map((n) => fs.readFileSync(path.join(dir, n)))
    const { log: reopened } = await openCollecting(dir, smallConfig)
    expect(reopened.offlineError?.message).toMatch(/later segments hold data/)
    expect(listLogs(dir).map((n) => fs.readFileSync(path.join(dir, n)))).toEqual(before)
    await reopened.close()
    await log.close().catch(() => {})
  })
})

describe('indexes', () => {
  for (const damage of ['deleted', 'garbage', 'odd-sized'] as const) {
    for (const clean of [true, false]) {
      test(`${damage} index files are rebuilt (${clean ? 'clean' : 'unclean'} shutdown)`, async ({ dir }) => {
        const log = await PartitionLog.open(dir, smallConfig)
        for (let i = 0; i < 40; i++) log.append(batchOf(`i${i}`, 2, { firstTimestamp: 5000 + i }))
        await log.close()
        if (!clean) fs.rmSync(path.join(dir, CLEAN))
        for (const name of fs.readdirSync(dir).filter((n) => /\.(time)?index$/.test(n))) {
          const file = path.join(dir, name)
          if (damage === 'deleted') fs.rmSync(file)
          else if (damage === 'garbage')
            fs.writeFileSync(file, Buffer.alloc(fs.statSync(file).size + 96, 0xa7))
          else fs.appendFileSync(file, Buffer.from([1, 2, 3]))
        }
        const { log: reopened } = await openCollecting(dir, smallConfig)
        expect(reopened.logEndOffset).toBe(80)
        for (let offset = 0; offset < 80; offset++) {
          const [batch] = reopened.read(offset, 1, 80)
          const header = readBatchHeader(batch as Buffer)
          expect(offset - header.baseOffset).toBeLessThanOrEqual(1)
          expect(offset - header.baseOffset).toBeGreaterThanOrEqual(0)
        }
        for (let i = 0; i < 40; i++) expect(reopened.offsetForTimestamp(5000 + i)).toBe(2 * i)
        expect(reopened.offsetForTimestamp(6000)).toBe(80)
        await reopened.close()
        for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.index'))) {
          expect(fs.statSync(path.join(dir, name)).size % 8).toBe(0)
        }
      })
    }
  }
})

describe('housekeeping', () => {
  test('stray files are removed: indexes without a log, temp files', async ({ dir }) => {
    await writeLog(dir, 2)
    fs.writeFileSync(path.join(dir, '00000000000000000500.index'), Buffer.alloc(8))
    fs.writeFileSync(path.join(dir, '00000000000000000500.timeindex'), Buffer.alloc(12))
    fs.writeFileSync(path.join(dir, 'recovery-point.tmp'), 'junk')
    const { log, warnings } = await openCollecting(dir)
    expect(fs.existsSync(path.join(dir, '00000000000000000500.index'))).toBe(false)
    expect(fs.existsSync(path.join(dir, 'recovery-point.tmp'))).toBe(false)
    expect(warnings.filter((w) => w.startsWith('removed stray'))).toHaveLength(3)
    expect(log.logEndOffset).toBe(6)
    await log.close()
  })

  test('a missing directory is created with an empty first segment', async ({ dir }) => {
    const partition = path.join(dir, 'topic', '0')
    const log = await PartitionLog.open(partition, defaultConfig)
    expect(listLogs(partition)).toEqual(['00000000000000000000.log'])
    expect(log.logStartOffset).toBe(0)
    expect(log.logEndOffset).toBe(0)
    await log.close()
  })

  test('the recovery point limits validation to the segments after it', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    for (let i = 0; i < 30; i++) log.append(batchOf(`x${i}`, 2))
    await log.flush()
    const point = Number(fs.readFileSync(path.join(dir, 'recovery-point'), 'utf8'))
    expect(point).toBe(60)
    // Damage in a segment below the recovery point is not looked at by recovery (only by reads).
    flipByte(logFile(dir, 0), 70)
    const { log: reopened } = await openCollecting(dir, smallConfig)
    expect(reopened.offlineError).toBeUndefined()
    expect(reopened.logEndOffset).toBe(60)
    expect(() => reopened.read(0, 1e6, 100)).toThrow(PartitionOfflineError)
    expect(reopened.offlineError?.message).toContain('00000000000000000000.log at byte position 0')
    await reopened.close()
    await log.close().catch(() => {})
  })
})

describe('helpers', () => {
  test('segmentIndexFor picks the last segment at or below the offset', () => {
    expect(segmentIndexFor([0, 10, 20], 0)).toBe(0)
    expect(segmentIndexFor([0, 10, 20], 9)).toBe(0)
    expect(segmentIndexFor([0, 10, 20], 10)).toBe(1)
    expect(segmentIndexFor([0, 10, 20], 99)).toBe(2)
    expect(segmentIndexFor([5, 10], 1)).toBe(0)
  })

  test('findValidBatchAfter finds a batch hidden after garbage and nothing in zeros', async ({ dir }) => {
    const batches = await writeLog(dir, 3)
    const file = logFile(dir, 0)
    expect(findValidBatchAfter(file, 1, fs.statSync(file).size)).toBe(batches[1]?.position)
    const zeros = path.join(dir, 'zeros')
    fs.writeFileSync(zeros, Buffer.alloc(3 * 1024 * 1024))
    expect(findValidBatchAfter(zeros, 0, 3 * 1024 * 1024)).toBeUndefined()
    const padded = path.join(dir, 'padded')
    const batch = fs.readFileSync(file).subarray(0, batches[0]?.size)
    fs.writeFileSync(padded, Buffer.concat([Buffer.alloc(1024 * 1024 + 7), batch]))
    expect(findValidBatchAfter(padded, 0, 1024 * 1024 + 7 + batch.length)).toBe(1024 * 1024 + 7)
  })
})

function flipByte(file: string, position: number): void {
  const fd = fs.openSync(file, 'r+')
  try {
    const b = Buffer.alloc(1)
    fs.readSync(fd, b, 0, 1, position)
    b[0] = (b[0] ?? 0) ^ 0xff
    fs.writeSync(fd, b, 0, 1, position)
  } finally {
    fs.closeSync(fd)
  }
}
