/**
 * A partition read from its leader gives the member exactly the bytes a local read would: the
 * leader's partition fetch body becomes group-format records byte for byte (keys, values and
 * headers of any shape), and the leader's bounds are remembered, from an answer or from its
 * OFFSET_OUT_OF_RANGE refusal.
 */
import { describe, expect, it } from 'vitest'
import { type PartitionLeaders, RemotePartitions } from '../../../../src/broker/groups/remote-partitions.js'
import { OffsetOutOfRangeError } from '../../../../src/errors.js'
import {
  buildGroupRecords,
  buildPartitionFetchBody,
  encodeRecordBody,
  groupRecordPrefix,
  type RecordSlice,
  wireUnpackr,
} from '../../../../src/wire/record-codec.js'

const TP = { topic: 'orders', partition: 4 }

/** Record bodies laid end to end in one buffer, as slices of it starting at `firstOffset`. */
function slicesOf(
  records: Array<Parameters<typeof encodeRecordBody>[0]>,
  firstOffset: number,
): RecordSlice[] {
  const bodies = records.map((r, i) => encodeRecordBody(r, 1_700_000_000_000 + i))
  const batch = Buffer.concat(bodies)
  let start = 0
  return bodies.map((b, i) => {
    const slice = { offset: firstOffset + i, start, length: b.length, batch }
    start += b.length
    return slice
  })
}

function leaderAnswering(answer: () => Buffer): PartitionLeaders & { calls: unknown[] } {
  const calls: unknown[] = []
  return {
    calls,
    isRemote: () => true,
    listOffset: async () => 0,
    fetch: async (_topic, _partition, params) => {
      calls.push(params)
      return answer()
    },
  }
}

describe('RemotePartitions', () => {
  const records = [
    { value: { n: 1, text: 'ü ✓' } },
    { key: 'k', value: Buffer.from([0, 1, 2]), headers: { h: 'v', b: new Uint8Array([9]) } },
    { key: 123_456_789_012, value: null },
    { value: 'x'.repeat(70_000) },
  ]

  it('turns the leader’s partition body into the group records a local read builds, byte for byte', async () => {
    const slices = slicesOf(records, 41)
    const leaders = leaderAnswering(() => buildPartitionFetchBody(slices, 45, 50, 3))
    const remote = new RemotePartitions(leaders)
    const got = await remote.read(TP, { offset: 41, maxRecords: 10, maxBytes: 1 << 20 })
    expect(got.recordCount).toBe(4)
    expect(got.nextOffset).toBe(45)
    expect(got.body.equals(buildGroupRecords(slices, groupRecordPrefix(TP.topic, TP.partition)))).toBe(true)
    const decoded = wireUnpackr.unpackMultiple(got.body) as Array<Record<string, unknown>>
    expect(decoded.map((r) => [r.topic, r.partition, r.offset])).toEqual([
      ['orders', 4, 41],
      ['orders', 4, 42],
      ['orders', 4, 43],
      ['orders', 4, 44],
    ])
    expect(remote.known(TP)).toEqual({ logStartOffset: 3, highWatermark: 50, logEndOffset: 50 })
    expect(leaders.calls).toEqual([{ offset: 41, maxRecords: 10, maxBytes: 1 << 20, maxWaitMs: 0 }])
  })

  it('an empty answer gives no records and still the bounds', async () => {
    const remote = new RemotePartitions(leaderAnswering(() => buildPartitionFetchBody([], 7, 7, 0)))
    const got = await remote.read(TP, { offset: 7, maxRecords: 10, maxBytes: 100 })
    expect(got).toMatchObject({ recordCount: 0, nextOffset: 7, bytes: 0 })
    expect(got.body.length).toBe(0)
    expect(remote.known(TP)).toEqual({ logStartOffset: 0, highWatermark: 7, logEndOffset: 7 })
  })

  it('learns the bounds from the leader’s refusal when retention moved the start past 0', async () => {
    const leaders = leaderAnswering(() => {
      throw new OffsetOutOfRangeError('offset 0 is outside [120, 130]', {
        offset: 0,
        logStartOffset: 120,
        logEndOffset: 130,
        highWatermark: 128,
      })
    })
    const remote = new RemotePartitions(leaders)
    expect(await remote.refresh(TP)).toEqual({ logStartOffset: 120, highWatermark: 128, logEndOffset: 128 })
  })

  it('refuses a body that is not a partition fetch body', async () => {
    const remote = new RemotePartitions(leaderAnswering(() => Buffer.from([0x80])))
    await expect(remote.read(TP, { offset: 0, maxRecords: 1, maxBytes: 1 })).rejects.toMatchObject({
      code: 'INTERNAL',
    })
  })
})
