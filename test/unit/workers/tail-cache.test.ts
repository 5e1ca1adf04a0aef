/**
 * TailCache: answers a `group` fetch from pushed tails exactly as the owner would (records from
 * `offset`, at most maxRecords, stored bytes within maxBytes but the first record always), joins
 * contiguous tails, and forgets what a later state could make wrong (high watermark below the
 * entry, log start past it, new leader epoch, offline, closed partition).
 */
import { describe, expect, it } from 'vitest'
import { TailCache } from '../../../src/workers/tail-cache.js'
import type { FetchRequest, PartitionState } from '../../../src/workers/worker-messages.js'

/** Record `o` is the ASCII text `r<o>;` in the body, and `size` stored bytes. */
function tail(from: number, count: number, size = 10) {
  const parts = Array.from({ length: count }, (_, i) => Buffer.from(`r${from + i};`))
  const ends: number[] = []
  const storedEnds: number[] = []
  let pos = 0
  parts.forEach((p, i) => {
    pos += p.length
    ends.push(pos)
    storedEnds.push((i + 1) * size)
  })
  return { from, body: new Uint8Array(Buffer.concat(parts)), ends, storedEnds }
}

function state(hw: number, extra: Partial<PartitionState> = {}): PartitionState {
  return {
    topic: 't',
    partition: 0,
    logStartOffset: 0,
    logEndOffset: hw,
    highWatermark: hw,
    offline: undefined,
    ...extra,
  }
}

function fetch(offset: number, maxRecords = 100, maxBytes = 1_000_000): FetchRequest {
  return { op: 'fetch', topic: 't', partition: 0, offset, maxRecords, maxBytes, format: 'group' }
}

const text = (r: ReturnType<TailCache['read']>) => r?.body.toString()

describe('TailCache', () => {
  it('answers from the pushed records within maxRecords and maxBytes, the first record always', () => {
    const cache = new TailCache()
    const s = state(15, { tail: tail(10, 5) })
    cache.update(s)
    expect(s.tail).toBeUndefined() // the broker keeps the state, not the bytes
    expect(text(cache.read(fetch(10)))).toBe('r10;r11;r12;r13;r14;')
    expect(cache.read(fetch(12, 2))).toMatchObject({
      recordCount: 2,
      nextOffset: 14,
      bytes: 20,
      highWatermark: 15,
    })
    expect(text(cache.read(fetch(12, 2)))).toBe('r12;r13;')
    expect(text(cache.read(fetch(11, 100, 25)))).toBe('r11;r12;')
    expect(text(cache.read(fetch(11, 100, 1)))).toBe('r11;')
    // Outside the entry, or another format: the owner answers.
    expect(cache.read(fetch(9))).toBeUndefined()
    expect(cache.read(fetch(15))).toBeUndefined()
    expect(cache.read({ ...fetch(10), format: 'partition' })).toBeUndefined()
    expect(cache.read({ ...fetch(10), partition: 1 })).toBeUndefined()
  })

  it('joins a tail that continues the entry, and replaces one that does not', () => {
    const cache = new TailCache()
    cache.update(state(12, { tail: tail(10, 2) }))
    cache.update(state(14, { tail: tail(12, 2) }))
    expect(text(cache.read(fetch(10)))).toBe('r10;r11;r12;r13;')
    expect(cache.read(fetch(11))).toMatchObject({ recordCount: 3, nextOffset: 14, bytes: 30 })
    cache.update(state(30, { tail: tail(20, 10) })) // a gap: 14..19 were never pushed
    expect(cache.read(fetch(10))).toBeUndefined()
    expect(text(cache.read(fetch(28)))).toBe('r28;r29;')
  })

  it('keeps an entry while the high watermark moves on without a tail', () => {
    const cache = new TailCache()
    cache.update(state(12, { tail: tail(10, 2) }))
    cache.update(state(40))
    expect(text(cache.read(fetch(11)))).toBe('r11;')
  })

  it.each([
    ['the high watermark drops below its end', state(11)],
    ['the log start moves past its start', state(12, { logStartOffset: 11 })],
    ['the leader epoch changes', state(12, { leaderEpoch: 3 })],
    ['the partition goes offline', state(12, { offline: 'disk failed' })],
  ])('forgets an entry when %s', (_why, next) => {
    const cache = new TailCache()
    cache.update(state(12, { tail: tail(10, 2) }))
    cache.update(next)
    expect(cache.read(fetch(10))).toBeUndefined()
  })

  it('forgets a closed partition', () => {
    const cache = new TailCache()
    cache.update(state(12, { tail: tail(10, 2) }))
    cache.drop('t', 0)
    expect(cache.read(fetch(10))).toBeUndefined()
  })

  it('forgets the partitions pushed to longest ago once its bytes pass the limit', () => {
    const cache = new TailCache(30)
    const at = (partition: number, hw: number, from: number, count: number) =>
      cache.update(state(hw, { partition, tail: tail(from, count) }))
    at(0, 2, 0, 2) // 6 bytes: "r0;r1;"
    at(1, 12, 10, 2) // 8 bytes
    at(2, 22, 20, 2) // 8 bytes
    at(0, 4, 2, 2) // joins partition 0 (12 bytes) and makes it the newest
    expect(cache.bytes).toBe(28)
    at(3, 32, 30, 2) // 36 bytes: partition 1, the oldest now, goes
    expect(cache.bytes).toBe(28)
    expect(cache.read({ ...fetch(10), partition: 1 })).toBeUndefined()
    expect(text(cache.read({ ...fetch(0), partition: 0 }))).toBe('r0;r1;r2;r3;')
    expect(text(cache.read({ ...fetch(20), partition: 2 }))).toBe('r20;r21;')
    cache.drop('t', 0)
    cache.update(state(22, { partition: 2 })) // still valid: kept
    expect(cache.bytes).toBe(16)
  })
})
