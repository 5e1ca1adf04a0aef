/**
 * PartitionLog contract: dense offsets across segment rolls; read returns whole batches from the
 * one containing the offset, within maxBytes (first batch always whole) and below maxOffset;
 * out-of-range offsets throw with the log's bounds; group commit merges concurrent flushes (at most
 * maxFlushRounds rounds at the disk, landing in start order); an
 * idempotent producer's retry is stored once and answered with the original offsets, also after a
 * clean or unclean restart; retention deletes whole old segments, never the active one;
 * truncateTo drops a suffix at a batch boundary; a failed fdatasync takes the log offline; deferred
 * (acks=all) appends reach the file in one writev at the flush, or earlier at a read, a written append
 * or a roll, and a failed deferred write takes the log offline.
 */
import fs from 'node:fs'
import v8 from 'node:v8'
import vm from 'node:vm'
import { describe, expect, vi } from 'vitest'
import {
  DuplicateSequenceError,
  InvalidRequestError,
  OffsetOutOfRangeError,
  PayloadTooLargeError,
  StorageError,
} from '../../../src/errors.js'
import { DEFAULT_MAX_FLUSH_ROUNDS, type LogConfig, PartitionLog } from '../../../src/storage/partition-log.js'
import { RECENT_BATCH_BYTES, RecentBatchBudget } from '../../../src/storage/recent-batches.js'
import { batchCrc, readBatchHeader, recordSlices } from '../../../src/storage/record-batch.js'
import { batchOf, defaultConfig, listLogs, logFile, smallConfig, test } from './storage-fixtures.js'

async function filledLog(
  dir: string,
  batches: number,
  config: LogConfig = smallConfig,
): Promise<PartitionLog> {
  const log = await PartitionLog.open(dir, config)
  for (let i = 0; i < batches; i++) log.append(batchOf(`b${i}`, (i % 3) + 1))
  return log
}

/** The record tags filledLog(dir, 40) writes, by offset. */
const TAGS_40 = Array.from({ length: 40 }, (_, i) =>
  Array.from({ length: (i % 3) + 1 }, (_, j) => `b${i}-${j}`),
).flat()

function offsetsOf(batches: Buffer[]): number[] {
  return batches.flatMap((b) => [...recordSlices(b)].map((r) => r.offset))
}

describe('append and read', () => {
  test('assigns dense offsets and rolls segments at segmentBytes', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    let expected = 0
    for (let i = 0; i < 40; i++) {
      const count = (i % 3) + 1 // 13 cycles of 1+2+3 records, then 1: 79 offsets
      const info = log.append(batchOf(`b${i}`, count))
      expect(info.baseOffset).toBe(expected)
      expect(info.lastOffset).toBe(expected + count - 1)
      expected += count
      expect(info.logEndOffset).toBe(expected)
    }
    expect(log.logEndOffset).toBe(79)
    expect(listLogs(dir).length).toBeGreaterThanOrEqual(4)
    for (const name of listLogs(dir)) expect(fs.statSync(`${dir}/${name}`).size).toBeLessThanOrEqual(1024)
    await log.close()
  })

  test('reading from every offset returns the batch that contains it first', async ({ dir }) => {
    const log = await filledLog(dir, 40)
    for (let offset = 0; offset < log.logEndOffset; offset++) {
      const [first] = log.read(offset, 1, log.logEndOffset)
      if (first === undefined) throw new Error(`nothing read at ${offset}`)
      const header = readBatchHeader(first)
      expect(header.baseOffset).toBeLessThanOrEqual(offset)
      expect(header.baseOffset + header.lastOffsetDelta).toBeGreaterThanOrEqual(offset)
      const slice = [...recordSlices(first)].find((r) => r.offset === offset)
      expect(slice?.bytes.toString().replace(/\.+$/, '')).toBe(TAGS_40[offset])
    }
    await log.close()
  })

  test('records come back with the bytes that were written, in order, across every segment', async ({
    dir,
  }) => {
    const log = await filledLog(dir, 40)
    const seen: string[] = []
    let offset = 0
    while (offset < log.logEndOffset) {
      const batches = log.read(offset, 100_000, log.logEndOffset)
      expect(batches.length).toBeGreaterThan(0)
      for (const batch of batches)
        for (const r of recordSlices(batch)) seen.push(r.bytes.toString().replace(/\.+$/, ''))
      const last = readBatchHeader(batches.at(-1) as Buffer)
      offset = last.baseOffset + last.lastOffsetDelta + 1
    }
    expect(seen).toEqual(TAGS_40)
    await log.close()
  })

  test('maxBytes bounds the total, but the first batch is always returned whole', async ({ dir }) => {
    const log = await filledLog(dir, 9, defaultConfig)
    const all = log.read(0, 1_000_000, log.logEndOffset)
    expect(offsetsOf(all)).toEqual(Array.from({ length: 18 }, (_, i) => i))
    const sizes = all.map((b) => b.length)
    const firstTwo = (sizes[0] ?? 0) + (sizes[1] ?? 0)
    expect(log.read(0, firstTwo, log.logEndOffset)).toHaveLength(2)
    expect(log.read(0, firstTwo - 1, log.logEndOffset)).toHaveLength(1)
    expect(log.read(0, 1, log.logEndOffset)).toHaveLength(1)
    const total = log.read(0, 500, log.logEndOffset).reduce((n, b) => n + b.length, 0)
    expect(total).toBeLessThanOrEqual(500)
    await log.close()
  })

  test('maxRecords ends the read at the first index entry past offset + maxRecords', async ({ dir }) => {
    // indexIntervalBytes 1: every batch is indexed, so the read ends right after the batch that
    // holds offset + maxRecords − 1. Batches hold [0], [1,2], [3,4,5], [6], [7,8], [9,10,11], ...
    const log = await filledLog(dir, 30, { ...defaultConfig, indexIntervalBytes: 1 })
    expect(offsetsOf(log.read(0, 1_000_000, log.logEndOffset, 1))).toEqual([0])
    expect(offsetsOf(log.read(0, 1_000_000, log.logEndOffset, 2))).toEqual([0, 1, 2])
    expect(offsetsOf(log.read(4, 1_000_000, log.logEndOffset, 3))).toEqual([3, 4, 5, 6])
    // maxBytes and maxOffset still bound it; without maxRecords, maxBytes alone does.
    expect(offsetsOf(log.read(0, 1_000_000, 5, 100))).toEqual([0, 1, 2])
    expect(offsetsOf(log.read(0, 1_000_000, log.logEndOffset))).toHaveLength(log.logEndOffset)
    await log.close()
  })

  test('a batch written before this process opened the log is CRC checked when read', async ({ dir }) => {
    const log = await filledLog(dir, 3, defaultConfig)
    const [, second] = log.read(0, 1_000_000, log.logEndOffset)
    await log.close()
    const [name] = listLogs(dir)
    const file = `${dir}/${name}`
    const bytes = fs.readFileSync(file)
    // Flip one byte of the second batch's last record: its CRC no longer matches.
    const at = bytes.indexOf(second as Buffer) + (second as Buffer).length - 1
    bytes[at] = (bytes[at] as number) ^ 0xff
    fs.writeFileSync(file, bytes)
    // A clean shutdown marker skips recovery's scan, so only the read can notice.
    const reopened = await PartitionLog.open(dir, defaultConfig)
    expect(() => reopened.read(1, 1_000_000, reopened.logEndOffset)).toThrow(/crc|CRC|checksum/)
    await reopened.close().catch(() => undefined)
  })

  test('stops before any batch whose lastOffset reaches maxOffset', async ({ dir }) => {
    const log = await filledLog(dir, 9, defaultConfig)
    // Batches hold offsets [0], [1,2], [3,4,5], [6], [7,8], [9,10,11], ...
    expect(offsetsOf(log.read(0, 1_000_000, 6))).toEqual([0, 1, 2, 3, 4, 5])
    expect(offsetsOf(log.read(0, 1_000_000, 5))).toEqual([0, 1, 2])
    expect(offsetsOf(log.read(3, 1_000_000, 7))).toEqual([3, 4, 5, 6])
    expect(log.read(4, 1_000_000, 5)).toEqual([])
    expect(log.read(4, 1_000_000, 4)).toEqual([])
    expect(log.read(4, 1_000_000, 0)).toEqual([])
    await log.close()
  })

  test('offsets outside [logStartOffset, logEndOffset] throw with the bounds; the end reads empty', async ({
    dir,
  }) => {
    const log = await filledLog(dir, 3, defaultConfig)
    expect(log.read(6, 1000, 100)).toEqual([])
    for (const offset of [7, 100, -1]) {
      try {
        log.read(offset, 1000, 100)
        expect.unreachable()
      } catch (err) {
        expect(err).toBeInstanceOf(OffsetOutOfRangeError)
        expect((err as InstanceType<typeof OffsetOutOfRangeError>).details).toMatchObject({
          logStartOffset: 0,
          logEndOffset: 6,
        })
      }
    }
    await log.close()
  })

  test('returned batches have valid CRCs and can be appended verbatim by a follower', async ({ dir }) => {
    const leader = await filledLog(dir, 12)
    const followerDir = `${dir}/follower`
    const follower = await PartitionLog.open(followerDir, smallConfig)
    while (follower.logEndOffset < leader.logEndOffset) {
      for (const batch of leader.read(follower.logEndOffset, 300, leader.logEndOffset)) {
        expect(batch.readUInt32BE(17)).toBe(batchCrc(batch))
        follower.appendVerbatim(Buffer.from(batch))
      }
    }
    expect(offsetsOf(follower.read(0, 1e6, 1e6))).toEqual(offsetsOf(leader.read(0, 1e6, 1e6)))
    await follower.close()
    await leader.close()
  })

  test('appendVerbatim refuses a gap, a wrong CRC and a malformed batch', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const batch = batchOf('x')
    expect(() => log.appendVerbatim(batch)).toThrow(InvalidRequestError) // crc 0
    batch.writeUInt32BE(batchCrc(batch), 17)
    log.appendVerbatim(batch)
    expect(() => log.appendVerbatim(batch)).toThrow(/starts at 0, log end offset is 1/)
    expect(log.logEndOffset).toBe(1)
    await log.close()
  })

  test('a malformed batch is rejected and nothing is written', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const good = batchOf('x', 2)
    const badCount = Buffer.from(good)
    badCount.writeInt32BE(3, 57)
    const badPrefix = Buffer.from(good)
    badPrefix.writeUInt32BE(1000, 61)
    const badLength = Buffer.from(good)
    badLength.writeInt32BE(good.length, 8)
    for (const bad of [badCount, badPrefix, badLength, good.subarray(0, 40)]) {
      expect(() => log.append(bad)).toThrow(InvalidRequestError)
    }
    expect(log.logEndOffset).toBe(0)
    expect(fs.statSync(`${dir}/00000000000000000000.log`).size).toBe(0)
    await log.close()
  })

  test('a batch larger than segmentBytes is refused', async ({ dir }) => {
    const log = await PartitionLog.open(dir, { ...smallConfig, segmentBytes: 200 })
    expect(() => log.append(batchOf('big', 10))).toThrow(PayloadTooLargeError)
    await log.close()
  })

  test('rolls by segmentMs', async ({ dir }) => {
    const log = await PartitionLog.open(dir, { ...defaultConfig, segmentMs: 1 })
    log.append(batchOf('a'))
    await new Promise((r) => setTimeout(r, 5))
    log.append(batchOf('b'))
    expect(listLogs(dir)).toEqual(['00000000000000000000.log', '00000000000000000001.log'])
    await log.close()
  })

  test('roll() on an empty active segment is a no-op', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.roll()
    log.append(batchOf('a'))
    log.roll()
    log.roll()
    expect(listLogs(dir)).toEqual(['00000000000000000000.log', '00000000000000000001.log'])
    await log.close()
  })

  test('leaderEpoch is stamped into the batch', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('a'), { leaderEpoch: 7 })
    const [batch] = log.read(0, 1000, 10)
    expect(readBatchHeader(batch as Buffer).leaderEpoch).toBe(7)
    await log.close()
  })

  test('bounds open read handles with maxOpenSegments', async ({ dir }) => {
    const log = await filledLog(dir, 60, { ...smallConfig, maxOpenSegments: 2 })
    const fds = () => fs.readdirSync('/proc/self/fd').length
    for (let o = 0; o < log.logEndOffset; o++) log.read(o, 1, log.logEndOffset)
    const afterOnePass = fds()
    for (let o = 0; o < log.logEndOffset; o++) log.read(o, 1, log.logEndOffset)
    expect(fds()).toBeLessThanOrEqual(afterOnePass)
    expect(listLogs(dir).length).toBeGreaterThan(5)
    await log.close()
  })
})

describe('reopen', () => {
  test('close then open keeps every batch and appends continue densely', async ({ dir }) => {
    const log = await filledLog(dir, 25)
    const before = offsetsOf(log.read(0, 1e6, 1e6))
    const end = log.logEndOffset
    await log.close()
    expect(fs.existsSync(`${dir}/clean-shutdown`)).toBe(true)
    const warnings: string[] = []
    const reopened = await PartitionLog.open(dir, smallConfig, { onWarning: (m) => warnings.push(m) })
    expect(warnings).toEqual([])
    expect(fs.existsSync(`${dir}/clean-shutdown`)).toBe(false)
    expect(reopened.logEndOffset).toBe(end)
    expect(reopened.durableOffset).toBe(end)
    expect(offsetsOf(reopened.read(0, 1e6, 1e6))).toEqual(before)
    expect(reopened.append(batchOf('next')).baseOffset).toBe(end)
    await reopened.close()
  })

  test('operations on a closed log throw', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    await log.close()
    expect(() => log.append(batchOf('a'))).toThrow(StorageError)
    await expect(log.flush()).rejects.toThrow(StorageError)
  })
})

describe('group commit', () => {
  /** Two rounds may be at the disk at once (maxFlushRounds 2). */
  const overlapping: LogConfig = { ...defaultConfig, maxFlushRounds: 2 }

  test('50 concurrent append+flush calls share a few fdatasyncs and each sees its batch durable', async ({
    dir,
  }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        await new Promise((r) => setImmediate(r))
        const info = log.append(batchOf(`c${i}`))
        const durable = await log.flush()
        return { info, durable }
      }),
    )
    for (const { info, durable } of results) expect(durable).toBeGreaterThanOrEqual(info.lastOffset + 1)
    expect(log.flushStats.fsyncs).toBeLessThan(10)
    expect(log.flushStats.recordsFlushed).toBe(50)
    expect(log.durableOffset).toBe(50)
    await log.close()
  })

  test('by default one round at a time: calls during it share exactly one more', async ({ dir }) => {
    expect(DEFAULT_MAX_FLUSH_ROUNDS).toBe(1)
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('a'))
    const first = log.flush()
    const waves: Promise<number>[] = []
    for (let i = 0; i < 20; i++) {
      log.append(batchOf(`w${i}`))
      waves.push(log.flush())
    }
    expect(await first).toBe(1)
    for (const w of waves) expect(await w).toBe(21)
    expect(log.flushStats.fsyncs).toBe(2)
    await log.close()
  })

  test('calls while maxFlushRounds rounds run share exactly one more round', async ({ dir }) => {
    const log = await PartitionLog.open(dir, overlapping)
    log.append(batchOf('a'))
    const first = log.flush()
    log.append(batchOf('b'))
    const second = log.flush() // a second round starts at once
    const waves: Promise<number>[] = []
    for (let i = 0; i < 20; i++) {
      log.append(batchOf(`w${i}`))
      waves.push(log.flush())
    }
    expect(await first).toBeGreaterThanOrEqual(1)
    expect(await second).toBeGreaterThanOrEqual(2)
    for (const w of waves) expect(await w).toBe(22)
    expect(log.flushStats.fsyncs).toBe(3)
    expect(await log.flush()).toBe(22)
    expect(log.flushStats.fsyncs).toBe(3)
    await log.close()
  })

  /** fs.fdatasync held until the test releases each call: [release, fail] per call, in call order. */
  function holdFdatasyncs() {
    const calls: Array<{ release: () => void; fail: (err: Error) => void }> = []
    const spy = vi.spyOn(fs, 'fdatasync').mockImplementation(((
      _fd: number,
      cb: (err: Error | null) => void,
    ) => {
      calls.push({ release: () => cb(null), fail: (err) => cb(err) })
    }) as typeof fs.fdatasync)
    return { calls, restore: () => spy.mockRestore() }
  }

  const ticks = async (n = 5) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
  }

  test('overlapping rounds land in start order: a later fdatasync done first waits', async ({ dir }) => {
    const log = await PartitionLog.open(dir, overlapping)
    const held = holdFdatasyncs()
    try {
      log.append(batchOf('a'))
      let firstDone = false
      let secondDone = false
      const first = log.flush().then((d) => {
        firstDone = true
        return d
      })
      log.append(batchOf('b'))
      const second = log.flush().then((d) => {
        secondDone = true
        return d
      })
      expect(held.calls).toHaveLength(2) // both rounds are at the disk at once
      held.calls[1]?.release()
      await ticks()
      expect(secondDone).toBe(false)
      expect(log.durableOffset).toBe(0)
      held.calls[0]?.release()
      expect(await first).toBe(1)
      expect(await second).toBe(2)
      expect(firstDone && secondDone).toBe(true)
      expect(log.durableOffset).toBe(2)
    } finally {
      held.restore()
    }
    await log.close()
  })

  test('a queued round starts when the oldest round lands, not the newest', async ({ dir }) => {
    const log = await PartitionLog.open(dir, overlapping)
    const held = holdFdatasyncs()
    try {
      const rounds = ['a', 'b', 'c'].map((tag) => {
        log.append(batchOf(tag))
        return log.flush()
      })
      expect(held.calls).toHaveLength(2)
      held.calls[0]?.release()
      await ticks()
      expect(held.calls).toHaveLength(3) // the queued round is at the disk while the second still is
      held.calls[2]?.release()
      await ticks()
      expect(log.durableOffset).toBe(1) // it lands only after the second
      held.calls[1]?.release()
      expect(await Promise.all(rounds)).toEqual([1, 2, 3])
      expect(log.durableOffset).toBe(3)
    } finally {
      held.restore()
    }
    await log.close()
  })

  test('an earlier round that fails fails the later one too, even if its fdatasync succeeded', async ({
    dir,
  }) => {
    const log = await PartitionLog.open(dir, overlapping)
    const held = holdFdatasyncs()
    try {
      log.append(batchOf('a'))
      const first = log.flush()
      log.append(batchOf('b'))
      const second = log.flush()
      held.calls[1]?.release()
      await ticks()
      held.calls[0]?.fail(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
      await expect(first).rejects.toThrow(StorageError)
      await expect(second).rejects.toThrow(StorageError)
      expect(log.durableOffset).toBe(0)
      expect(log.offlineError).toBeInstanceOf(StorageError)
    } finally {
      held.restore()
    }
    await log.close()
  })

  test('a failed fdatasync takes the log offline and every later call throws', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('a'))
    const spy = vi.spyOn(fs, 'fdatasync').mockImplementation(((
      _fd: number,
      cb: (err: Error | null) => void,
    ) => {
      cb(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
    }) as typeof fs.fdatasync)
    try {
      await expect(log.flush()).rejects.toThrow(StorageError)
    } finally {
      spy.mockRestore()
    }
    expect(log.offlineError).toBeInstanceOf(StorageError)
    expect(log.durableOffset).toBe(0)
    expect(() => log.append(batchOf('b'))).toThrow(StorageError)
    await expect(log.flush()).rejects.toBe(log.offlineError)
    expect(() => log.read(0, 100, 1)).toThrow(StorageError)
    await log.close()
  })
})

describe('deferred writes (acks=all appends)', () => {
  const tagsIn = (batches: Buffer[]) =>
    batches.flatMap((b) => [...recordSlices(b)].map((r) => r.bytes.toString().replace(/\.+$/, '')))

  test("a round's deferred batches reach the file at the flush, in one go and in order", async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const file = logFile(dir, 0)
    const sizes = [batchOf('d0'), batchOf('d1', 2), batchOf('d2', 3)].map((batch) => {
      log.append(batch, { deferWrite: true })
      return batch.length
    })
    expect(log.logEndOffset).toBe(6)
    expect(fs.statSync(file).size).toBe(0)
    const writev = vi.spyOn(fs, 'writevSync')
    try {
      expect(await log.flush()).toBe(6)
      expect(writev).toHaveBeenCalledTimes(1)
    } finally {
      writev.mockRestore()
    }
    expect(fs.statSync(file).size).toBe(sizes.reduce((a, b) => a + b))
    expect(tagsIn(log.read(0, 1 << 20, 6))).toEqual(['d0-0', 'd1-0', 'd1-1', 'd2-0', 'd2-1', 'd2-2'])
    await log.close()
    const reopened = await PartitionLog.open(dir, defaultConfig)
    expect(reopened.logEndOffset).toBe(6)
    expect(tagsIn(reopened.read(0, 1 << 20, 6))).toHaveLength(6)
    await reopened.close()
  })

  test('a read from the file, a written append and a roll each put the deferred batches in the file first', async ({
    dir,
  }) => {
    // No recent batches in memory: every read goes to the file.
    const log = await PartitionLog.open(dir, { ...smallConfig, recentBatchBytes: 0 })
    log.append(batchOf('a'), { deferWrite: true })
    expect(tagsIn(log.read(0, 1 << 20, 1))).toEqual(['a-0'])
    expect(fs.statSync(logFile(dir, 0)).size).toBeGreaterThan(0)

    log.append(batchOf('b'), { deferWrite: true })
    log.append(batchOf('c'))
    const afterWrite = fs.statSync(logFile(dir, 0)).size
    expect(tagsIn(log.read(0, 1 << 20, 3))).toEqual(['a-0', 'b-0', 'c-0'])
    expect(fs.statSync(logFile(dir, 0)).size).toBe(afterWrite)

    // smallConfig rolls every few batches: deferred batches of a sealed segment are written at the roll.
    for (let i = 0; i < 12; i++) log.append(batchOf(`r${i}`), { deferWrite: true })
    expect(listLogs(dir).length).toBeGreaterThan(1)
    await log.flush()
    expect(tagsIn(log.read(0, 1 << 20, 15)).length).toBeGreaterThanOrEqual(3)
    const all: string[] = []
    for (let offset = 0; offset < log.logEndOffset; ) {
      const batches = log.read(offset, 1 << 20, log.logEndOffset)
      all.push(...tagsIn(batches))
      offset += tagsIn(batches).length
    }
    expect(all).toEqual(['a-0', 'b-0', 'c-0', ...Array.from({ length: 12 }, (_, i) => `r${i}-0`)])
    await log.close()
  })

  test('a failed deferred write at a read takes the log offline, not just the read', async ({ dir }) => {
    const log = await PartitionLog.open(dir, { ...defaultConfig, recentBatchBytes: 0 })
    log.append(batchOf('a'), { deferWrite: true })
    const spy = vi.spyOn(fs, 'writevSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })
    })
    const write = vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })
    })
    try {
      expect(() => log.read(0, 1 << 20, 1)).toThrow(StorageError)
    } finally {
      spy.mockRestore()
      write.mockRestore()
    }
    expect(log.offlineError).toBeInstanceOf(StorageError)
    await expect(log.flush()).rejects.toBe(log.offlineError)
    await log.close()
  })

  test('an acks=1 retry of a batch still deferred puts it in the file before answering', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const first = batchOf('p', 2, { producerId: 7, producerEpoch: 0, baseSequence: 0 })
    log.append(Buffer.from(first), { deferWrite: true })
    expect(fs.statSync(logFile(dir, 0)).size).toBe(0)
    const retry = log.append(Buffer.from(first))
    expect(retry.duplicate).toBe(true)
    expect(fs.statSync(logFile(dir, 0)).size).toBe(first.length)
    await log.close()
  })

  test('a failed deferred write takes the log offline at the flush; nothing is confirmed', async ({
    dir,
  }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('a'))
    expect(await log.flush()).toBe(1)
    log.append(batchOf('b'), { deferWrite: true })
    log.append(batchOf('c'), { deferWrite: true })
    const spy = vi.spyOn(fs, 'writevSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    })
    try {
      await expect(log.flush()).rejects.toThrow(StorageError)
    } finally {
      spy.mockRestore()
    }
    expect(log.offlineError).toBeInstanceOf(StorageError)
    expect(log.durableOffset).toBe(1)
    expect(() => log.append(batchOf('d'))).toThrow(StorageError)
    await log.close()
  })
})

describe('recent batches (reads at the tail from memory)', () => {
  /** The same batches appended to a log that keeps `recentBatchBytes` of them and to one that keeps none. */
  async function twinLogs(dir: string, config: LogConfig, recentBatchBytes: number, batches: number) {
    const cached = await PartitionLog.open(`${dir}/cached`, { ...config, recentBatchBytes })
    const file = await PartitionLog.open(`${dir}/file`, { ...config, recentBatchBytes: 0 })
    for (let i = 0; i < batches; i++) {
      const batch = batchOf(`t${i}`, (i % 4) + 1)
      cached.append(Buffer.from(batch), { deferWrite: i % 2 === 0 })
      file.append(Buffer.from(batch))
    }
    return { cached, file }
  }

  const bytesOf = (batches: Buffer[]) => Buffer.concat(batches)

  for (const [name, config, recentBatchBytes] of [
    ['one segment, every batch in memory', defaultConfig, RECENT_BATCH_BYTES],
    ['one segment, only the newest ~600 bytes in memory', defaultConfig, 600],
    ['segments rolling every few batches', smallConfig, RECENT_BATCH_BYTES],
  ] as const) {
    test(`every read answers as the file does: ${name}`, async ({ dir }) => {
      const { cached, file } = await twinLogs(dir, config, recentBatchBytes, 60)
      const end = cached.logEndOffset
      expect(end).toBe(file.logEndOffset)
      for (let offset = 0; offset < end; offset++) {
        for (const maxOffset of [offset + 1, Math.min(end, offset + 7), end]) {
          for (const maxBytes of [1, 150, 400, 1 << 20]) {
            // Without maxRecords both stop at maxOffset and maxBytes: the same bytes.
            expect(bytesOf(cached.read(offset, maxBytes, maxOffset))).toEqual(
              bytesOf(file.read(offset, maxBytes, maxOffset)),
            )
            // With it, the file read runs on to the next index entry: memory answers a prefix of it
            // that still reaches offset + maxRecords − 1 unless maxBytes or maxOffset stops it first.
            for (const maxRecords of [1, 3]) {
              const fromMemory = offsetsOf(cached.read(offset, maxBytes, maxOffset, maxRecords))
              const fromFile = offsetsOf(file.read(offset, maxBytes, maxOffset, maxRecords))
              expect(fromFile.slice(0, fromMemory.length)).toEqual(fromMemory)
              const wanted = Math.min(offset + maxRecords, maxOffset) - 1
              const reached = fromMemory.length === 0 || (fromMemory.at(-1) as number) >= wanted
              expect(reached || fromMemory.length === fromFile.length).toBe(true)
            }
          }
        }
      }
      await Promise.all([cached.close(), file.close()])
    })
  }

  test('an answer from memory is a copy: changing it changes nothing kept', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    for (let i = 0; i < 5; i++) log.append(batchOf(`c${i}`, 2))
    const first = log.read(4, 1 << 20, 10)
    const before = Buffer.from(bytesOf(first))
    expect(offsetsOf(first)).toEqual([4, 5, 6, 7, 8, 9])
    // One buffer of its own, as a read from the file: a worker thread may be handed its ArrayBuffer.
    expect((first[0] as Buffer).buffer.byteLength).toBe(before.length)
    for (const b of first) b.fill(0)
    expect(bytesOf(log.read(4, 1 << 20, 10))).toEqual(before)
    await log.close()
  })

  test('deferred batches are read from memory and still reach the file in one writev at the flush', async ({
    dir,
  }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const tags = (batches: Buffer[]) =>
      batches.flatMap((b) => [...recordSlices(b)].map((r) => r.bytes.toString().replace(/\.+$/, '')))
    log.append(batchOf('a'), { deferWrite: true })
    log.append(batchOf('b', 2), { deferWrite: true })
    expect(tags(log.read(0, 1 << 20, 3))).toEqual(['a-0', 'b-0', 'b-1'])
    expect(fs.statSync(logFile(dir, 0)).size).toBe(0)
    const writev = vi.spyOn(fs, 'writevSync')
    try {
      expect(await log.flush()).toBe(3)
      expect(writev).toHaveBeenCalledTimes(1)
    } finally {
      writev.mockRestore()
    }
    await log.close()
  })

  test('after a truncation and new appends, memory answers with the new batches only', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    for (let i = 0; i < 6; i++) log.append(batchOf(`old${i}`))
    await log.flush()
    log.truncateTo(3)
    log.append(batchOf('new3'))
    log.append(batchOf('new4'))
    const tags = log
      .read(0, 1 << 20, log.logEndOffset)
      .flatMap((b) => [...recordSlices(b)].map((r) => r.bytes.toString().replace(/\.+$/, '')))
    expect(tags).toEqual(['old0-0', 'old1-0', 'old2-0', 'new3-0', 'new4-0'])
    expect(offsetsOf(log.read(3, 1 << 20, log.logEndOffset))).toEqual([3, 4])
    await log.close()
  })

  test("a follower's appends are read from the file, and its batches are not kept", async ({ dir }) => {
    const leader = await PartitionLog.open(`${dir}/leader`, defaultConfig)
    const follower = await PartitionLog.open(`${dir}/follower`, defaultConfig)
    for (let i = 0; i < 4; i++) leader.append(batchOf(`l${i}`))
    // The follower led offsets 0–1 itself (kept in memory), then follows: the leader's 2–3 arrive verbatim.
    for (let i = 0; i < 2; i++) follower.append(batchOf(`l${i}`))
    const fetched = leader.read(2, 1 << 20, 4)
    for (const batch of fetched) follower.appendVerbatim(Buffer.from(batch))
    const read = vi.spyOn(fs, 'readSync')
    try {
      expect(offsetsOf(follower.read(0, 1 << 20, 4))).toEqual([0, 1, 2, 3])
      expect(read).toHaveBeenCalled()
    } finally {
      read.mockRestore()
    }
    expect(bytesOf(follower.read(2, 1 << 20, 4))).toEqual(bytesOf(fetched))
    await Promise.all([leader.close(), follower.close()])
  })

  test('partitions share a budget: past it, the one that appended least recently gives its batches up', async ({
    dir,
  }) => {
    const budget = new RecentBatchBudget(700)
    const config = { ...defaultConfig, recentBatchBudget: budget }
    const a = await PartitionLog.open(`${dir}/a`, config)
    const b = await PartitionLog.open(`${dir}/b`, config)
    const c = await PartitionLog.open(`${dir}/c`, config)
    const append = (log: PartitionLog, tag: string, n: number) => {
      for (let i = 0; i < n; i++) log.append(batchOf(`${tag}${i}`))
    }
    const size = batchOf('a0').length // 85: every batch of this test has one 20-byte record
    append(a, 'a', 3)
    append(b, 'b', 3)
    expect(budget.usedBytes).toBe(6 * size)
    const fileReads = (read: () => void): number => {
      const spy = vi.spyOn(fs, 'readSync')
      try {
        read()
        return spy.mock.calls.length
      } finally {
        spy.mockRestore()
      }
    }
    expect(fileReads(() => a.read(0, 1 << 20, 3))).toBe(0)
    // c's batches push the total past 700 bytes: a (least recent) gives all of its batches up, b keeps its.
    append(c, 'c', 3)
    expect(budget.usedBytes).toBeLessThanOrEqual(700)
    expect(fileReads(() => expect(offsetsOf(a.read(0, 1 << 20, 3))).toEqual([0, 1, 2]))).toBeGreaterThan(0)
    expect(fileReads(() => expect(offsetsOf(b.read(0, 1 << 20, 3))).toEqual([0, 1, 2]))).toBe(0)
    expect(fileReads(() => expect(offsetsOf(c.read(0, 1 << 20, 3))).toEqual([0, 1, 2]))).toBe(0)
    // a appends 3 more (b, c, a: 9 × 85 bytes): now b is the least recent and gives way.
    append(a, 'a', 3)
    expect(budget.usedBytes).toBeLessThanOrEqual(700)
    expect(fileReads(() => expect(offsetsOf(b.read(0, 1 << 20, 3))).toEqual([0, 1, 2]))).toBeGreaterThan(0)
    expect(fileReads(() => expect(offsetsOf(a.read(3, 1 << 20, 6))).toEqual([3, 4, 5]))).toBe(0)
    // Closing gives the rest back.
    await Promise.all([a.close(), b.close(), c.close()])
    expect(budget.usedBytes).toBe(0)
  })

  test('small batches that are views into larger buffers pin about their own bytes, not 8 KiB each', async ({
    dir,
  }) => {
    v8.setFlagsFromString('--expose-gc')
    // Freed ArrayBuffers are otherwise counted until a background sweep gets to them.
    v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping')
    const gc = vm.runInNewContext('gc') as () => void
    const log = await PartitionLog.open(dir, defaultConfig)
    const pinned = () => {
      gc()
      return process.memoryUsage().arrayBuffers
    }
    const before = pinned()
    let kept = 0
    for (let i = 0; i < 600; i++) {
      // A batch at the start of a 4 KiB buffer: a view, as a caller may hand one (a decoded body, a clone).
      const batch = batchOf(`v${i}`)
      const body = Buffer.allocUnsafeSlow(4096)
      batch.copy(body)
      log.append(body.subarray(0, batch.length))
      kept += batch.length
      // A broker allocates from Node's shared 8 KiB pool all the time: here each batch's copy lands in a slab of its own.
      Buffer.allocUnsafe(4095)
      Buffer.allocUnsafe(4095)
    }
    expect(kept).toBeLessThan(RECENT_BATCH_BYTES)
    // Every batch is kept (the newest 64 KiB); within twice that, far from 600 pool slabs (4.9 MB).
    expect(pinned() - before).toBeLessThan(2 * RECENT_BATCH_BYTES)
    expect(offsetsOf(log.read(0, 1 << 20, log.logEndOffset))).toHaveLength(600)
    await log.close()
  })
})

describe('idempotent producers', () => {
  const producer = (seq: number, tag = `p${seq}`, count = 1) =>
    batchOf(tag, count, { producerId: 42, producerEpoch: 0, baseSequence: seq })

  test('a retried batch is stored once and answered with the original offsets', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('other'))
    const first = log.append(producer(0, 'p0', 3))
    log.append(batchOf('other2'))
    const retry = log.append(producer(0, 'p0', 3))
    expect(retry).toEqual({ ...first, duplicate: true })
    expect(log.logEndOffset).toBe(5)
    expect(offsetsOf(log.read(0, 1e6, 1e6))).toEqual([0, 1, 2, 3, 4])
    await log.close()
  })

  test('only the last 5 batches are remembered; older sequences are refused', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    const infos = Array.from({ length: 7 }, (_, i) => log.append(producer(i)))
    for (let i = 2; i < 7; i++) expect(log.append(producer(i)).baseOffset).toBe(infos[i]?.baseOffset)
    expect(() => log.append(producer(1))).toThrow(DuplicateSequenceError)
    expect(() => log.append(producer(0))).toThrow(DuplicateSequenceError)
    expect(log.append(producer(7)).duplicate).toBeUndefined()
    expect(log.logEndOffset).toBe(8)
    await log.close()
  })

  test('survives close and reopen', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    const infos = Array.from({ length: 30 }, (_, i) => log.append(producer(i)))
    await log.close()
    const reopened = await PartitionLog.open(dir, smallConfig)
    expect(reopened.append(producer(29))).toEqual({ ...infos[29], duplicate: true })
    expect(() => reopened.append(producer(3))).toThrow(DuplicateSequenceError)
    expect(reopened.logEndOffset).toBe(30)
    await reopened.close()
  })

  test('survives an unclean reopen (no close, no snapshot at the end)', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    const infos = Array.from({ length: 30 }, (_, i) => log.append(producer(i)))
    await log.flush()
    // Simulate a crash: abandon the log without close(); its fds die with the process in real life.
    const reopened = await PartitionLog.open(dir, smallConfig)
    expect(reopened.append(producer(27))).toEqual({ ...infos[27], duplicate: true })
    expect(reopened.logEndOffset).toBe(30)
    await reopened.close()
    await log.close().catch(() => {})
  })

  test('a higher producer epoch starts a new sequence', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(producer(0))
    log.append(producer(1))
    const bumped = batchOf('e1', 1, { producerId: 42, producerEpoch: 1, baseSequence: 0 })
    expect(log.append(bumped).duplicate).toBeUndefined()
    expect(() => log.append(producer(2))).toThrow(InvalidRequestError)
    await log.close()
  })
})

describe('retention', () => {
  test('by bytes deletes whole old segments, never the active one, and moves logStartOffset', async ({
    dir,
  }) => {
    const log = await filledLog(dir, 40)
    const segmentsBefore = listLogs(dir)
    const { deletedSegments } = log.enforceRetention(Date.now())
    expect(deletedSegments).toBe(0)
    const limited = await reopenWith(log, dir, { ...smallConfig, retentionBytes: 2048 })
    const result = limited.enforceRetention(Date.now())
    const after = listLogs(dir)
    expect(result.deletedSegments).toBe(segmentsBefore.length - after.length)
    expect(result.deletedSegments).toBeGreaterThan(0)
    // Kafka's rule: delete a segment only if the log still holds retentionBytes without it.
    const sizes = after.map((name) => fs.statSync(`${dir}/${name}`).size)
    const total = sizes.reduce((n, size) => n + size, 0)
    expect(total).toBeGreaterThanOrEqual(2048)
    expect(total - (sizes[0] ?? 0)).toBeLessThan(2048)
    expect(limited.logStartOffset).toBe(Number(after[0]?.slice(0, 20)))
    expect(() => limited.read(0, 100, 1e6)).toThrow(OffsetOutOfRangeError)
    expect(offsetsOf(limited.read(limited.logStartOffset, 1e6, 1e6))[0]).toBe(limited.logStartOffset)
    const zero = await reopenWith(limited, dir, { ...smallConfig, retentionBytes: 0 })
    zero.enforceRetention(Date.now())
    expect(listLogs(dir)).toEqual([after.at(-1)])
    expect(zero.logEndOffset).toBe(79)
    expect(zero.append(batchOf('more')).baseOffset).toBe(79)
    await zero.close()
  })

  test('deleting segments while a flush is syncing them does not fail the flush', async ({ dir }) => {
    const log = await filledLog(dir, 40, { ...smallConfig, retentionBytes: 0 })
    const flushing = log.flush()
    expect(log.enforceRetention(Date.now()).deletedSegments).toBeGreaterThan(0)
    log.append(batchOf('more'))
    const again = log.flush()
    log.enforceRetention(Date.now())
    expect(await flushing).toBe(79)
    expect(await again).toBe(80)
    expect(log.offlineError).toBeUndefined()
    await log.close()
  })

  test('retention keeps every segment holding an offset at or past keepFrom', async ({ dir }) => {
    const log = await filledLog(dir, 40, { ...smallConfig, retentionBytes: 0 })
    const bases = listLogs(dir).map((name) => Number.parseInt(name, 10))
    expect(bases.length).toBeGreaterThan(3)
    // Offset 1 past the third segment's base: the first two segments lie wholly below it.
    const keepFrom = (bases[2] as number) + 1
    expect(log.enforceRetention(Date.now(), keepFrom).deletedSegments).toBe(2)
    expect(log.logStartOffset).toBe(bases[2])
    expect(log.enforceRetention(Date.now(), keepFrom).deletedSegments).toBe(0)
    expect(log.enforceRetention(Date.now()).deletedSegments).toBe(bases.length - 3)
    await log.close()
  })

  test('by age deletes segments whose newest batch is older than retentionMs', async ({ dir }) => {
    const config = { ...smallConfig, retentionMs: 1000 }
    const log = await PartitionLog.open(dir, config)
    for (let i = 0; i < 30; i++) log.append(batchOf(`old${i}`, 1, { firstTimestamp: 1_000 + i }))
    const oldSegments = listLogs(dir).length
    for (let i = 0; i < 30; i++) log.append(batchOf(`new${i}`, 1, { firstTimestamp: 10_000 + i }))
    expect(log.enforceRetention(5_000).deletedSegments).toBe(oldSegments - 1)
    expect(log.logStartOffset).toBeGreaterThan(0)
    expect(log.logStartOffset).toBeLessThanOrEqual(30)
    const deletedAll = log.enforceRetention(1_000_000).deletedSegments
    expect(deletedAll).toBeGreaterThan(0)
    expect(listLogs(dir)).toHaveLength(1)
    expect(log.logEndOffset).toBe(60)
    await log.close()
  })
})

async function reopenWith(log: PartitionLog, dir: string, config: LogConfig): Promise<PartitionLog> {
  await log.close()
  return PartitionLog.open(dir, config)
}

describe('offsetForTimestamp', () => {
  test('returns the first offset whose batch maxTimestamp reaches the timestamp', async ({ dir }) => {
    const log = await PartitionLog.open(dir, smallConfig)
    for (let i = 0; i < 40; i++) log.append(batchOf(`t${i}`, 2, { firstTimestamp: 1000 + 10 * i }))
    expect(log.offsetForTimestamp(0)).toBe(0)
    expect(log.offsetForTimestamp(1000)).toBe(0)
    expect(log.offsetForTimestamp(1001)).toBe(2)
    expect(log.offsetForTimestamp(1010)).toBe(2)
    for (let i = 0; i < 40; i++) expect(log.offsetForTimestamp(1000 + 10 * i)).toBe(2 * i)
    expect(log.offsetForTimestamp(1391)).toBe(80)
    await log.close()
    const reopened = await PartitionLog.open(dir, smallConfig)
    for (let i = 0; i < 40; i++) expect(reopened.offsetForTimestamp(995 + 10 * i)).toBe(2 * i)
    await reopened.close()
  })
})

describe('truncateTo', () => {
  test('drops everything at and after a batch boundary, across segments', async ({ dir }) => {
    const log = await filledLog(dir, 40)
    const segments = listLogs(dir).length
    log.truncateTo(30) // batch 15 starts at 30 (batches of 1,2,3 records: 6 per 3 batches)
    expect(log.logEndOffset).toBe(30)
    expect(listLogs(dir).length).toBeLessThan(segments)
    expect(offsetsOf(log.read(0, 1e6, 1e6)).at(-1)).toBeLessThan(30)
    expect(() => log.read(31, 10, 100)).toThrow(OffsetOutOfRangeError)
    expect(log.append(batchOf('after')).baseOffset).toBe(30)
    expect(() => log.truncateTo(2)).toThrow(InvalidRequestError) // inside batch [1,2]
    expect(log.logEndOffset).toBe(31)
    log.truncateTo(3)
    expect(log.logEndOffset).toBe(3)
    await log.close()
    const reopened = await PartitionLog.open(dir, smallConfig)
    expect(reopened.logEndOffset).toBe(3)
    expect(offsetsOf(reopened.read(0, 1e6, 1e6))).toEqual([0, 1, 2])
    await reopened.close()
  })

  test('truncating to a segment base offset keeps an empty active segment', async ({ dir }) => {
    const log = await filledLog(dir, 40)
    const second = Number(listLogs(dir)[1]?.slice(0, 20))
    log.truncateTo(second)
    expect(log.logEndOffset).toBe(second)
    expect(log.read(second, 100, 1e6)).toEqual([])
    expect(log.append(batchOf('x')).baseOffset).toBe(second)
    await log.close()
  })

  test('forgets producer batches that were truncated', async ({ dir }) => {
    const log = await PartitionLog.open(dir, defaultConfig)
    log.append(batchOf('a', 1, { producerId: 1, producerEpoch: 0, baseSequence: 0 }))
    log.append(batchOf('b', 1, { producerId: 1, producerEpoch: 0, baseSequence: 1 }))
    log.truncateTo(1)
    const again = log.append(batchOf('b', 1, { producerId: 1, producerEpoch: 0, baseSequence: 1 }))
    expect(again.duplicate).toBeUndefined()
    expect(again.baseOffset).toBe(1)
    await log.close()
  })

  test('below logStartOffset restarts the log at that offset', async ({ dir }) => {
    const log = await filledLog(dir, 40, { ...smallConfig, retentionBytes: 1024 })
    log.enforceRetention(Date.now())
    const start = log.logStartOffset
    expect(start).toBeGreaterThan(2)
    log.truncateTo(1)
    expect(log.logStartOffset).toBe(1)
    expect(log.logEndOffset).toBe(1)
    expect(listLogs(dir)).toEqual(['00000000000000000001.log'])
    expect(log.append(batchOf('z')).baseOffset).toBe(1)
    await log.close()
  })
})
