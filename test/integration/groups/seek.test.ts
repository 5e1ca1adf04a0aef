/**
 * A member's seek (`POST /v1/groups/{group}/members/{member}/seek`) on a real broker: backwards
 * the records are delivered again, forwards they are skipped without being committed, a seek
 * wakes a long poll, and the fences of a commit hold (another member's partition or an old
 * generation: 409 STALE_GENERATION; past the log end: 416 OFFSET_OUT_OF_RANGE; a bad body: 400),
 * with nothing moved by a refused seek.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'
import { createTopic, fetchRecords, groupOffsets, join, produceSpread, unique } from './group-helpers.js'

let broker: BrokerProcess

beforeAll(async () => {
  broker = await startBroker()
})

afterAll(async () => {
  await broker?.stop()
})

const seek = (group: string, memberId: string, body: unknown) =>
  json(`${broker.url}/v1/groups/${group}/members/${memberId}/seek`, 'POST', body)

describe('member seek', () => {
  it('backwards delivers the records again; forwards skips them without committing', async () => {
    const topic = await createTopic(broker.url, 1)
    await produceSpread(broker.url, topic, 1, 5)
    const group = unique('g')
    const m = await join(broker.url, group, [topic])
    const first = await fetchRecords(broker.url, group, m.memberId, { maxRecords: 3 })
    expect(first.records.map((r) => r.value)).toEqual(['v0', 'v1', 'v2'])

    const back = await seek(group, m.memberId, { offsets: [{ topic, partition: 0, offset: 1 }] })
    expect(back.status).toBe(204)
    const again = await fetchRecords(broker.url, group, m.memberId)
    expect(again.records.map((r) => [r.offset, r.value])).toEqual([
      [1, 'v1'],
      [2, 'v2'],
      [3, 'v3'],
      [4, 'v4'],
    ])

    const forward = await seek(group, m.memberId, {
      generation: m.generation,
      offsets: [{ topic, partition: 0, offset: 5 }],
    })
    expect(forward.status).toBe(204)
    await produceSpread(broker.url, topic, 1, 1, 5)
    const after = await fetchRecords(broker.url, group, m.memberId)
    expect(after.records.map((r) => r.value)).toEqual(['v5'])
    expect((await groupOffsets(broker.url, group))[0]?.committed ?? null).toBeNull()
  })

  it('wakes a long poll that is waiting for records', async () => {
    const topic = await createTopic(broker.url, 1)
    await produceSpread(broker.url, topic, 1, 2)
    const group = unique('g')
    const m = await join(broker.url, group, [topic])
    expect((await fetchRecords(broker.url, group, m.memberId)).records).toHaveLength(2)
    const polling = fetchRecords(broker.url, group, m.memberId, { maxWaitMs: 20_000 })
    await new Promise((r) => setTimeout(r, 200))
    expect((await seek(group, m.memberId, { offsets: [{ topic, partition: 0, offset: 0 }] })).status).toBe(
      204,
    )
    expect((await polling).records.map((r) => r.offset)).toEqual([0, 1])
  })

  it('is fenced like a commit, and a refused seek moves nothing', async () => {
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 4)
    const group = unique('g')
    const a = await join(broker.url, group, [topic])
    const b = await join(broker.url, group, [topic])
    const bPartition = b.assignments[0]?.partition as number
    const aPartition = 1 - bPartition

    const notOwned = await seek(group, a.memberId, { offsets: [{ topic, partition: bPartition, offset: 0 }] })
    expect(notOwned.status).toBe(409)
    expect(notOwned.body.error.code).toBe('STALE_GENERATION')

    const old = await seek(group, a.memberId, {
      generation: a.generation,
      offsets: [{ topic, partition: aPartition, offset: 0 }],
    })
    expect(old.status).toBe(409)
    expect(old.body.error.code).toBe('STALE_GENERATION')

    const past = await seek(group, b.memberId, { offsets: [{ topic, partition: bPartition, offset: 3 }] })
    expect(past.status).toBe(416)
    expect(past.body.error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      details: { topic, partition: bPartition, offset: 3, logEndOffset: 2 },
    })

    const bad = await seek(group, b.memberId, { offsets: [{ topic, partition: bPartition, offset: -1 }] })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('INVALID_REQUEST')
    const empty = await seek(group, b.memberId, { offsets: [] })
    expect(empty.status).toBe(400)

    const unknown = await seek(group, 'no-such-member', { offsets: [{ topic, partition: 0, offset: 0 }] })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('MEMBER_NOT_FOUND')

    // Nothing moved: b still reads its partition from the start.
    const got = await fetchRecords(broker.url, group, b.memberId)
    expect(got.records.map((r) => r.offset)).toEqual([0, 1])
  })
})
