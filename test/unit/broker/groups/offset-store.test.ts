/**
 * The offset store over a fake log: commits and configs are written as records of one partition per
 * group and shown only once durable; load keeps the last value of each key (compaction), honours
 * tombstones and skips records it does not understand; a deleted topic's offsets are tombstoned.
 */
import { describe, expect, it } from 'vitest'
import {
  compactRecords,
  type OffsetLog,
  type OffsetLogRecord,
  OffsetStore,
} from '../../../../src/broker/groups/offset-store.js'

class FakeLog implements OffsetLog {
  readonly data: OffsetLogRecord[][]
  appends = 0
  gate: Promise<void> | undefined

  constructor(partitions: number) {
    this.data = Array.from({ length: partitions }, () => [])
  }

  partitions(): number {
    return this.data.length
  }

  async append(partition: number, records: OffsetLogRecord[]): Promise<void> {
    // Records enter the log in call order; durability (the await) may come later.
    this.data[partition]?.push(...structuredClone(records))
    this.appends++
    if (this.gate) await this.gate
  }

  async *readAll(partition: number): AsyncIterable<OffsetLogRecord> {
    for (const r of this.data[partition] ?? []) yield r
  }
}

const off = (group: string, topic: string, partition: number, offset: number | null): OffsetLogRecord => ({
  key: { group, topic, partition },
  value: offset === null ? null : { offset, timestamp: 1 },
})

describe('compactRecords', () => {
  it('keeps the last value per key in the order of last writes, dropping tombstones and junk', () => {
    const out = compactRecords([
      off('g', 't', 0, 1),
      off('g', 't', 1, 5),
      { key: 'not a key', value: 1 },
      { key: { group: 'g' }, value: { maxDeliveries: 3 } },
      off('g', 't', 0, 7),
      off('h', 't', 0, 2),
      off('h', 't', 0, null),
      { key: { group: 'g', topic: 't', partition: -1 }, value: { offset: 1 } },
    ])
    expect(out).toEqual([
      off('g', 't', 1, 5),
      { key: { group: 'g' }, value: { maxDeliveries: 3 } },
      off('g', 't', 0, 7),
    ])
  })
})

describe('OffsetStore', () => {
  it('commits to the group’s partition and loads back the last value of each key', async () => {
    const log = new FakeLog(4)
    const store = new OffsetStore(log)
    await store.load()
    await store.commit('g', [
      { topic: 't', partition: 0, offset: 3 },
      { topic: 't', partition: 1, offset: 4 },
    ])
    await store.commit('g', [{ topic: 't', partition: 0, offset: 9 }])
    await store.setConfig('g', { maxDeliveries: 2, deadLetterTopic: 'dlq' })
    await store.commit('other', [{ topic: 't', partition: 0, offset: 1 }])
    const p = store.partitionOf('g')
    expect(log.data[p]?.length).toBeGreaterThanOrEqual(4)
    expect(store.committed('g', 't', 0)).toBe(9)

    const reloaded = new OffsetStore(log)
    await reloaded.load()
    expect(reloaded.offsets('g').map((o) => [o.topic, o.partition, o.offset])).toEqual([
      ['t', 0, 9],
      ['t', 1, 4],
    ])
    expect(reloaded.config('g')).toEqual({ maxDeliveries: 2, deadLetterTopic: 'dlq' })
    expect(reloaded.committed('other', 't', 0)).toBe(1)
    expect(reloaded.groups().sort()).toEqual(['g', 'other'])
  })

  it('tombstones a deleted topic’s offsets, in memory and after a reload', async () => {
    const log = new FakeLog(2)
    const store = new OffsetStore(log)
    await store.commit('g', [
      { topic: 'gone', partition: 0, offset: 3 },
      { topic: 'kept', partition: 0, offset: 4 },
    ])
    await store.commit('h', [{ topic: 'gone', partition: 2, offset: 1 }])
    await store.dropTopic('gone')
    expect(store.committed('g', 'gone', 0)).toBeUndefined()
    expect(store.has('h')).toBe(false)
    const reloaded = new OffsetStore(log)
    await reloaded.load()
    expect(reloaded.offsets('g').map((o) => o.topic)).toEqual(['kept'])
    expect(reloaded.has('h')).toBe(false)
  })

  it('shows a commit only once it is durable, and never lets an earlier write overwrite a later one', async () => {
    const log = new FakeLog(1)
    const store = new OffsetStore(log)
    let release!: () => void
    log.gate = new Promise((r) => {
      release = r
    })
    const first = store.commit('g', [{ topic: 't', partition: 0, offset: 5 }])
    await Promise.resolve()
    expect(store.committed('g', 't', 0)).toBeUndefined()
    log.gate = undefined
    await store.commit('g', [{ topic: 't', partition: 0, offset: 8 }])
    expect(store.committed('g', 't', 0)).toBe(8)
    release()
    await first
    expect(store.committed('g', 't', 0)).toBe(8)
    const reloaded = new OffsetStore(log)
    await reloaded.load()
    expect(reloaded.committed('g', 't', 0)).toBe(8)
  })

  it('persists delivery counts per group partition: a reload (a new coordinator) sees the last, tombstones clear them', async () => {
    const log = new FakeLog(2)
    const store = new OffsetStore(log)
    const tp = { topic: 't', partition: 1 }
    await store.saveDeliveries('g', tp, [{ from: 3, to: 9 }])
    await store.saveDeliveries('g', tp, [
      { from: 3, to: 9 },
      { from: 3, to: 5 },
    ])
    await store.saveDeliveries('g', { topic: 'gone', partition: 0 }, [{ from: 0, to: 2 }])
    await store.saveDeliveries('h', tp, [{ from: 0, to: 1 }])
    await store.saveDeliveries('h', tp, [])
    const p = store.partitionOf('g')
    expect(log.data[p]?.find((r) => (r.key as { kind?: string }).kind === 'deliveries')?.value).toEqual({
      ranges: [3, 9],
      timestamp: expect.any(Number),
    })
    const reloaded = new OffsetStore(log)
    await reloaded.load()
    expect(reloaded.deliveries('g', tp)).toEqual([
      { from: 3, to: 9 },
      { from: 3, to: 5 },
    ])
    expect(reloaded.deliveries('h', tp)).toBeUndefined()
    expect(reloaded.has('h')).toBe(false)
    // Nothing stored: clearing writes nothing.
    const appends = log.appends
    await reloaded.saveDeliveries('h', tp, [])
    expect(log.appends).toBe(appends)

    await reloaded.dropTopic('gone')
    const again = new OffsetStore(log)
    await again.load()
    expect(again.deliveries('g', { topic: 'gone', partition: 0 })).toBeUndefined()
    expect(again.deliveries('g', tp)).toHaveLength(2)
    // A broker that predates the delivery records reads them as offsets without one, and skips them.
    expect(
      compactRecords([{ key: { group: 'g', topic: 't', partition: 0 }, value: { ranges: [1, 2] } }]),
    ).toEqual([])
    // Malformed runs are skipped.
    expect(
      compactRecords([
        { key: { group: 'g', topic: 't', partition: 0, kind: 'deliveries' }, value: { ranges: [5, 2] } },
      ]),
    ).toEqual([])
  })

  it('reads records written by hand (a newer format) without failing', async () => {
    const log = new FakeLog(1)
    log.data[0]?.push({
      key: { group: 'g', topic: 't', partition: 0 },
      value: { offset: 2, timestamp: 1, extra: true },
    })
    log.data[0]?.push({ key: { group: 'g' }, value: { maxDeliveries: 4 } })
    log.data[0]?.push({ key: { group: 'g', kind: 'future' }, value: { x: 1 } }, { key: null, value: null })
    const store = new OffsetStore(log)
    await store.load()
    expect(store.committed('g', 't', 0)).toBe(2)
    expect(store.config('g')).toEqual({ maxDeliveries: 4 })
  })
})

describe('a partition taken over while the store is still loading (cluster: a coordinator moving here at start)', () => {
  it("a full reload of the partition is never overwritten by the start-up load's older view of it", async () => {
    // The start-up load reads the group's partition while this broker only follows it (an older
    // view), then leadership moves here and the take-over reloads that partition in full. Whatever the
    // interleaving, the store must end with the take-over's view.
    const log = new FakeLog(2)
    const store = new OffsetStore(log)
    const full = [off('g', 't', 1, 60), off('g', 't', 0, 40)]
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let startupReads = 0
    const g = store.partitionOf('g')
    log.readAll = async function* (partition: number) {
      if (partition === g && startupReads++ === 0) {
        // The start-up load's read: an older view, delivered only after the take-over read.
        await held
        yield off('g', 't', 1, 5)
        return
      }
      for (const r of partition === g ? full : []) yield r
    }
    const startup = store.load()
    // The start-up load is now inside its read of the group's partition.
    for (let i = 0; i < 100 && startupReads === 0; i++) await new Promise((r) => setImmediate(r))
    expect(startupReads).toBe(1)
    const takeOver = store.loadPartition(g)
    await new Promise((r) => setImmediate(r))
    release()
    await Promise.all([startup, takeOver])
    expect(store.committed('g', 't', 1)).toBe(60)
    expect(store.committed('g', 't', 0)).toBe(40)
  })
})
