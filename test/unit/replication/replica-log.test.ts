/**
 * Replication in the partition owner (PartitionHost + replica-log.ts): a leader stamps its epoch and
 * starts it in the epoch cache; a follower appends the leader's bytes verbatim and ends up with an
 * identical file; the high watermark is bounded by the in-sync followers on a leader (and never goes
 * back) and by the leader's on a follower; a divergent tail is truncated at a batch boundary.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect } from 'vitest'
import { buildBatch, readBatchHeader } from '../../../src/storage/index.js'
import { PartitionHost } from '../../../src/workers/partition-host.js'
import type { HostEvent, PartitionLogSettings } from '../../../src/workers/worker-messages.js'
import { test } from '../storage/storage-fixtures.js'

const settings: PartitionLogSettings = {
  segmentBytes: 1024 * 1024,
  segmentMs: 3_600_000,
  retentionMs: -1,
  retentionBytes: -1,
  indexIntervalBytes: 4096,
  flushIntervalMs: 0,
  flushMessages: 0,
}
const ref = { topic: 't', partition: 0 }

function batch(n: number, tag: string): Buffer {
  const records = Array.from({ length: n }, (_, i) => Buffer.from(`${tag}-${i}`))
  return buildBatch({ records, firstTimestamp: 1_700_000_000_000 })
}

async function openHost(dir: string, name: string) {
  const events: HostEvent[] = []
  const host = new PartitionHost((e) => events.push(e))
  const state = await host.open({ op: 'open', ...ref, dir: path.join(dir, name), settings, replicated: true })
  return { host, events, state, dir: path.join(dir, name) }
}

describe('replicated partition host', () => {
  test('takes no appends and shows nothing before it has a role', async ({ dir }) => {
    const { host, state } = await openHost(dir, 'a')
    expect(state.highWatermark).toBe(0)
    await expect(host.append({ op: 'append', ...ref, batch: batch(1, 'x'), acks: 1 })).rejects.toMatchObject({
      code: 'NOT_LEADER',
    })
    await host.closeAll()
  })

  test('a follower copies the leader byte for byte; the HW follows the ISR', async ({ dir }) => {
    const leader = await openHost(dir, 'leader')
    const follower = await openHost(dir, 'follower')
    await leader.host.handle({ op: 'replicaState', ...ref, role: 'leader', leaderEpoch: 3 })
    await follower.host.handle({ op: 'replicaState', ...ref, role: 'follower', leaderEpoch: 3 })

    const a = await leader.host.append({ op: 'append', ...ref, batch: batch(3, 'a'), acks: 'all' })
    await leader.host.append({ op: 'append', ...ref, batch: batch(2, 'b'), acks: 'all' })
    expect(a).toMatchObject({ baseOffset: 0, lastOffset: 2, durability: 'fsynced' })
    // Fsynced on the leader, but no follower has fetched: nothing is committed yet.
    const read = await leader.host.handle({ op: 'replicaRead', ...ref, offset: 0, maxBytes: 1 << 20 })
    expect(read).toMatchObject({ logEndOffset: 5, highWatermark: 0 })
    expect(readBatchHeader(read.batches).leaderEpoch).toBe(3)

    const appended = await follower.host.handle({
      op: 'replicaAppend',
      ...ref,
      batches: read.batches,
      leaderHighWatermark: read.highWatermark,
      leaderLogStartOffset: read.logStartOffset,
    })
    expect(appended).toEqual({ logEndOffset: 5, highWatermark: 0 })
    // The follower's next fetch offset (5) moves the leader's HW; the next answer carries it.
    const moved = await leader.host.handle({ op: 'highWatermark', ...ref, bound: 5 })
    expect(moved.highWatermark).toBe(5)
    const lower = await leader.host.handle({ op: 'highWatermark', ...ref, bound: 2 })
    expect(lower.highWatermark).toBe(5)
    const again = await follower.host.handle({
      op: 'replicaAppend',
      ...ref,
      batches: Buffer.alloc(0),
      leaderHighWatermark: 5,
      leaderLogStartOffset: 0,
    })
    expect(again.highWatermark).toBe(5)

    expect(await follower.host.handle({ op: 'epochs', ...ref })).toEqual({
      entries: [{ epoch: 3, startOffset: 0 }],
      logStartOffset: 0,
      logEndOffset: 5,
    })
    await leader.host.closeAll()
    await follower.host.closeAll()
    const log = (d: string) => fs.readFileSync(path.join(d, `${'0'.padStart(20, '0')}.log`))
    expect(log(follower.dir).equals(log(leader.dir))).toBe(true)
  })

  test('a follower truncates a divergent tail at a batch boundary and forgets its epoch', async ({ dir }) => {
    const old = await openHost(dir, 'old')
    await old.host.handle({ op: 'replicaState', ...ref, role: 'leader', leaderEpoch: 1 })
    await old.host.append({ op: 'append', ...ref, batch: batch(2, 'a'), acks: 1 })
    await old.host.handle({ op: 'replicaState', ...ref, role: 'leader', leaderEpoch: 2 })
    await old.host.append({ op: 'append', ...ref, batch: batch(3, 'b'), acks: 1 })
    await old.host.handle({ op: 'replicaState', ...ref, role: 'follower', leaderEpoch: 4 })
    // Offset 3 is inside the second batch [2, 4]: truncation cuts at its start.
    const state = await old.host.handle({ op: 'truncate', ...ref, offset: 3 })
    expect(state.logEndOffset).toBe(2)
    expect((await old.host.handle({ op: 'epochs', ...ref })).entries).toEqual([{ epoch: 1, startOffset: 0 }])
    await expect(
      old.host.handle({ op: 'replicaRead', ...ref, offset: 0, maxBytes: 100 }),
    ).rejects.toMatchObject({ code: 'NOT_LEADER' })
    await old.host.closeAll()
  })

  test('a leader refuses to truncate', async ({ dir }) => {
    const l = await openHost(dir, 'l')
    await l.host.handle({ op: 'replicaState', ...ref, role: 'leader', leaderEpoch: 0 })
    await l.host.append({ op: 'append', ...ref, batch: batch(1, 'a'), acks: 1 })
    await expect(l.host.handle({ op: 'truncate', ...ref, offset: 0 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    await l.host.closeAll()
  })
})
