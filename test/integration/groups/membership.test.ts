/**
 * Consumer groups against a real broker process: fanout (two groups each see every record exactly
 * once), partitions split across members and moved on a leave with nothing lost and only
 * uncommitted records delivered twice, generation fencing of commits (409 STALE_GENERATION),
 * heartbeats that report a rebalance, descriptions with lag, reset rules, and the error envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import {
  commit,
  commitAndFetch,
  commitsFor,
  createTopic,
  drainWithPost,
  eventually,
  fetchRecords,
  type GroupRecord,
  groupOffsets,
  heartbeat,
  id,
  join,
  leave,
  occurrences,
  produceSpread,
  tp,
  unique,
} from './group-helpers.js'

let broker: BrokerProcess
beforeAll(async () => {
  broker = await startBroker({ args: ['--group-min-session-timeout-ms', '100'] })
})
afterAll(async () => {
  await broker?.stop()
})

const allIds = (topic: string, partitions: number, count: number) =>
  Array.from({ length: count }, (_, i) => `${topic}/${i % partitions}@${Math.floor(i / partitions)}`).sort()

describe('fanout', () => {
  it('two groups on one topic each receive every record exactly once', async () => {
    const topic = await createTopic(broker.url, 4)
    await produceSpread(broker.url, topic, 4, 400)
    const billing = unique('billing')
    const audit = unique('audit')
    const b1 = await join(broker.url, billing, [topic])
    const a1 = await join(broker.url, audit, [topic])
    const a2 = await join(broker.url, audit, [topic])
    // a1 learns its final assignment (a2's join took half of its partitions).
    const a1Now = await heartbeat(broker.url, audit, a1.memberId)
    expect(a1Now.assignments).toHaveLength(2)
    expect(a2.assignments).toHaveLength(2)

    const billingSeen = await drainWithPost(broker.url, billing, b1.memberId, { maxRecords: 70 })
    const auditSeen = [
      ...(await drainWithPost(broker.url, audit, a1.memberId, { maxRecords: 70 })),
      ...(await drainWithPost(broker.url, audit, a2.memberId, { maxRecords: 70 })),
    ]
    for (const seen of [billingSeen, auditSeen]) {
      expect(seen.map(id).sort()).toEqual(allIds(topic, 4, 400))
      expect([...occurrences(seen).values()].every((c) => c === 1)).toBe(true)
    }
    // The values are the records produced, in offset order per partition.
    const p0 = billingSeen.filter((r) => r.partition === 0)
    expect(p0.map((r) => r.value)).toEqual(Array.from({ length: 100 }, (_, i) => `v${i * 4}`))
    for (const group of [billing, audit]) {
      const offsets = await groupOffsets(broker.url, group)
      expect(offsets.map((o) => [o.partition, o.committed, o.lag])).toEqual([
        [0, 100, 0],
        [1, 100, 0],
        [2, 100, 0],
        [3, 100, 0],
      ])
    }
  })

  it('returns records exactly as produced (MessagePack types), with topic and partition', async () => {
    const topic = await createTopic(broker.url, 1)
    const bytes = Buffer.from([0, 1, 2, 255])
    const res = await mp(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [
        {
          key: bytes,
          value: { n: 1, list: [1, 'two', null], raw: bytes },
          headers: { h: 'x', b: bytes },
          timestamp: 1_700_000_000_000,
        },
      ],
    })
    expect(res.status).toBe(200)
    const group = unique('types')
    const m = await join(broker.url, group, [topic])
    const got = await fetchRecords(broker.url, group, m.memberId)
    expect(got.generation).toBe(m.generation)
    expect(got.records).toHaveLength(1)
    const r = got.records[0] as GroupRecord
    expect(r.topic).toBe(topic)
    expect(r.partition).toBe(0)
    expect(r.offset).toBe(0)
    expect(r.timestamp).toBe(1_700_000_000_000)
    expect(Buffer.from(r.key as Uint8Array)).toEqual(bytes)
    expect((r.value as { list: unknown }).list).toEqual([1, 'two', null])
    expect(Buffer.from((r.value as { raw: Uint8Array }).raw)).toEqual(bytes)
    expect(r.headers.h).toBe('x')
    // The JSON form of the same fetch (nothing committed, a new member reads from the start).
    await leave(broker.url, group, m.memberId)
    const m2 = await join(broker.url, group, [topic])
    const asJson = await json(`${broker.url}/v1/groups/${group}/members/${m2.memberId}/records`, 'GET')
    expect(asJson.status).toBe(200)
    expect(asJson.body.records[0].key).toEqual({ $base64: bytes.toString('base64') })
    expect(asJson.body.generation).toBe(m2.generation)
  })
})

describe('three members in one group', () => {
  it('split the partitions, each record goes to one member, and a leave moves partitions without loss', async () => {
    const partitions = 6
    const topic = await createTopic(broker.url, partitions)
    await produceSpread(broker.url, topic, partitions, 600)
    const group = unique('trio')
    const members = [
      await join(broker.url, group, [topic]),
      await join(broker.url, group, [topic]),
      await join(broker.url, group, [topic]),
    ]
    const assignments = await Promise.all(members.map((m) => heartbeat(broker.url, group, m.memberId)))
    const owned = assignments.map((a) => a.assignments.map(tp).sort())
    expect(owned.map((o) => o.length)).toEqual([2, 2, 2])
    expect(new Set(owned.flat()).size).toBe(6)
    expect(new Set(assignments.map((a) => a.generation)).size).toBe(1)

    // Stable phase: each member takes two batches and commits the first (the POST form).
    const delivered = new Map<string, GroupRecord[]>()
    const lastBatch = new Map<string, GroupRecord[]>()
    for (const m of members) {
      const first = await commitAndFetch(broker.url, group, m.memberId, { maxRecords: 30 })
      const second = await commitAndFetch(broker.url, group, m.memberId, {
        commit: commitsFor(first.body.records),
        maxRecords: 30,
      })
      expect(first.body.records).toHaveLength(30)
      expect(second.body.records).toHaveLength(30)
      delivered.set(m.memberId, [...first.body.records, ...second.body.records])
      lastBatch.set(m.memberId, second.body.records)
      for (const r of [...first.body.records, ...second.body.records]) {
        expect(owned[members.indexOf(m)]).toContain(tp(r))
      }
    }
    const stable = [...delivered.values()].flat()
    expect([...occurrences(stable).values()].every((c) => c === 1)).toBe(true)

    // The leaver never commits its second batch; survivors commit theirs, then read everything left.
    const [leaver, ...survivors] = members as [(typeof members)[0], ...typeof members]
    for (const s of survivors) {
      const res = await commit(broker.url, group, {
        memberId: s.memberId,
        offsets: commitsFor(lastBatch.get(s.memberId) ?? []),
      })
      expect(res.status).toBe(204)
    }
    await leave(broker.url, group, leaver.memberId)
    const after = await Promise.all(survivors.map((s) => heartbeat(broker.url, group, s.memberId)))
    expect(after.every((a) => a.rebalancing)).toBe(true)
    const afterOwned = after.map((a) => a.assignments.map(tp))
    expect(afterOwned.map((o) => o.length)).toEqual([3, 3])
    // Sticky: each survivor kept what it had.
    survivors.forEach((_, i) => {
      for (const p of owned[i + 1] ?? []) expect(afterOwned[i]).toContain(p)
    })
    const rest = (
      await Promise.all(
        survivors.map((s) => drainWithPost(broker.url, group, s.memberId, { maxRecords: 80 })),
      )
    ).flat()

    const all = [...stable, ...rest]
    expect([...new Set(all.map(id))].sort()).toEqual(allIds(topic, partitions, 600))
    const twice = [...occurrences(all)].filter(([, c]) => c > 1).map(([k]) => k)
    expect(twice.sort()).toEqual((lastBatch.get(leaver.memberId) ?? []).map(id).sort())
    expect([...occurrences(all).values()].every((c) => c <= 2)).toBe(true)
    const offsets = await groupOffsets(broker.url, group)
    expect(offsets.every((o) => o.committed === 100 && o.lag === 0)).toBe(true)
  })
})

describe('generations', () => {
  it('refuses a commit with an old generation with 409 STALE_GENERATION, and accepts the current one', async () => {
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 10)
    const group = unique('fence')
    const a = await join(broker.url, group, [topic])
    const batch = await fetchRecords(broker.url, group, a.memberId)
    expect(batch.records).toHaveLength(10)
    const b = await join(broker.url, group, [topic])
    expect(b.generation).toBe(a.generation + 1)
    const kept = (await heartbeat(broker.url, group, a.memberId)).assignments[0]
    const offsets = [{ topic, partition: kept?.partition ?? 0, offset: 5 }]

    const stale = await commit(broker.url, group, { memberId: a.memberId, generation: a.generation, offsets })
    expect(stale.status).toBe(409)
    expect(stale.body.error.code).toBe('STALE_GENERATION')
    expect(stale.body.error.details).toMatchObject({
      generation: a.generation,
      currentGeneration: b.generation,
    })
    expect((await groupOffsets(broker.url, group)).every((o) => o.committed === null)).toBe(true)

    // A partition the member no longer owns is refused too, whatever generation it names.
    const lost = b.assignments[0] as { topic: string; partition: number }
    const notOwned = await commit(broker.url, group, {
      memberId: a.memberId,
      generation: b.generation,
      offsets: [{ ...lost, offset: 1 }],
    })
    expect(notOwned.status).toBe(409)
    expect(notOwned.body.error.code).toBe('STALE_GENERATION')
    const postForm = await commitAndFetch(broker.url, group, a.memberId, { commit: [{ ...lost, offset: 1 }] })
    expect(postForm.status).toBe(409)
    expect(postForm.body.error.code).toBe('STALE_GENERATION')

    const ok = await commit(broker.url, group, { memberId: a.memberId, generation: b.generation, offsets })
    expect(ok.status).toBe(204)
    const committed = (await groupOffsets(broker.url, group)).find(
      (o) => o.partition === offsets[0]?.partition,
    )
    expect(committed).toMatchObject({ committed: 5, lag: 0 })
  })

  it('tells a member in its heartbeat that a rebalance happened, once', async () => {
    const topic = await createTopic(broker.url, 2)
    const group = unique('hb')
    const a = await join(broker.url, group, [topic])
    expect((await heartbeat(broker.url, group, a.memberId)).rebalancing).toBe(false)
    const b = await join(broker.url, group, [topic])
    const seen = await heartbeat(broker.url, group, a.memberId)
    expect(seen).toMatchObject({ generation: b.generation, rebalancing: true })
    expect(seen.assignments).toHaveLength(1)
    expect((await heartbeat(broker.url, group, a.memberId)).rebalancing).toBe(false)
    // A member that names its generation is told whether it is current.
    const named = await json(`${broker.url}/v1/groups/${group}/members/${a.memberId}/heartbeat`, 'POST', {
      generation: a.generation,
    })
    expect(named.body.rebalancing).toBe(true)
  })
})

describe('joining again after the coordinator changed (owned)', () => {
  const parts = (a: Array<{ partition: number }>) => a.map((x) => x.partition).sort()

  it('members coming back one by one get back what they held, whichever order the assignor would pick', async () => {
    const topic = await createTopic(broker.url, 4)
    for (const [first, second] of [
      [
        [2, 3],
        [0, 1],
      ],
      [
        [0, 1],
        [2, 3],
      ],
    ] as const) {
      const group = unique('owned')
      const owned = (ps: readonly number[]) => ps.map((partition) => ({ topic, partition }))
      // The first one back gets what it held; the rest waits for its owner to come back.
      const x = await join(broker.url, group, [topic], { sessionTimeoutMs: 5_000, owned: owned(first) })
      expect(parts(x.assignments)).toEqual([...first])
      const y = await join(broker.url, group, [topic], { sessionTimeoutMs: 5_000, owned: owned(second) })
      expect(parts(y.assignments)).toEqual([...second])
      expect(parts((await heartbeat(broker.url, group, x.memberId)).assignments)).toEqual([...first])
    }
  })

  it('what nobody came back for is given out once every member could have come back (its session timeout)', async () => {
    const topic = await createTopic(broker.url, 4)
    const group = unique('owned-alone')
    // A session long enough that the heartbeats below keep it on a busy machine (at 300 ms, a CI run
    // saw the member expire between two heartbeats and the loop time out); the hold lasts as long.
    const x = await join(broker.url, group, [topic], {
      sessionTimeoutMs: 2_000,
      owned: [0, 1].map((partition) => ({ topic, partition })),
    })
    expect(parts(x.assignments)).toEqual([0, 1])
    await eventually('the partitions nobody claimed to be given out', async () => {
      const now = await heartbeat(broker.url, group, x.memberId)
      return parts(now.assignments).length === 4
    })
  })

  it('a claim counts only from a member of the coordinator before (within its session of the group appearing here)', async () => {
    const topic = await createTopic(broker.url, 4)
    // What a newcomer gets without a claim.
    const control = unique('owned-control')
    await join(broker.url, control, [topic], { sessionTimeoutMs: 5_000 })
    const plain = parts((await join(broker.url, control, [topic], { sessionTimeoutMs: 5_000 })).assignments)
    expect(plain).toHaveLength(2)
    const group = unique('owned-late')
    await join(broker.url, group, [topic], { sessionTimeoutMs: 5_000 })
    await new Promise((r) => setTimeout(r, 400))
    // Joined 400 ms after the group appeared here, with a 300 ms session: a member that expired
    // here, not one of a coordinator before. Its claim on the other two is not honoured.
    const other = [0, 1, 2, 3].filter((p) => !plain.includes(p))
    const y = await join(broker.url, group, [topic], {
      sessionTimeoutMs: 300,
      owned: other.map((partition) => ({ topic, partition })),
    })
    expect(parts(y.assignments)).toEqual(plain)
  })
})

describe('descriptions, reset and errors', () => {
  it('describes groups with state, generation, members, assignments and lag', async () => {
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 8)
    const group = unique('desc')
    const a = await join(broker.url, group, [topic], { sessionTimeoutMs: 5000 })
    const b = await join(broker.url, group, [topic], { sessionTimeoutMs: 6000, autoCommit: true })
    const described = await json(`${broker.url}/v1/groups/${group}`, 'GET')
    expect(described.status).toBe(200)
    expect(described.body).toMatchObject({ group, state: 'rebalancing', generation: b.generation, lag: 8 })
    await heartbeat(broker.url, group, a.memberId)
    const stable = (await json(`${broker.url}/v1/groups/${group}`, 'GET')).body
    expect(stable.state).toBe('stable')
    expect(stable.members).toHaveLength(2)
    const mb = stable.members.find((m: { memberId: string }) => m.memberId === b.memberId)
    expect(mb).toMatchObject({ autoCommit: true, sessionTimeoutMs: 6000, topics: [topic], lag: 4 })
    expect(mb.assignments).toEqual(b.assignments)
    const list = await json(`${broker.url}/v1/groups`, 'GET')
    expect(list.body.groups.map((g: { group: string }) => g.group)).toContain(group)
    await leave(broker.url, group, a.memberId)
    await leave(broker.url, group, b.memberId)
    // No members and nothing committed: the group is forgotten.
    expect((await json(`${broker.url}/v1/groups/${group}`, 'GET')).body.error.code).toBe('GROUP_NOT_FOUND')
  })

  it('resets offsets only for a group with no members (earliest, latest, timestamp)', async () => {
    const topic = await createTopic(broker.url, 1)
    const ts = (i: number) => 1_700_000_000_000 + i * 1000
    // One batch per record: the log's time lookup answers with the first offset of a batch.
    for (let i = 0; i < 10; i++) {
      const res = await json(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
        records: [{ value: i, timestamp: ts(i) }],
      })
      expect(res.status).toBe(200)
    }
    const group = unique('reset')
    const reset = (to: unknown) =>
      json(`${broker.url}/v1/groups/${group}/offsets/reset`, 'POST', { topic, to })
    const latest = await reset('latest')
    expect(latest.status).toBe(200)
    expect(latest.body.offsets).toEqual([{ topic, partition: 0, offset: 10 }])
    expect((await reset(ts(4))).body.offsets).toEqual([{ topic, partition: 0, offset: 4 }])
    const m = await join(broker.url, group, [topic])
    const busy = await reset('earliest')
    expect(busy.status).toBe(409)
    expect(busy.body.error.code).toBe('GROUP_NOT_EMPTY')
    const got = await fetchRecords(broker.url, group, m.memberId)
    expect(got.records.map((r) => r.value)).toEqual([4, 5, 6, 7, 8, 9])
    await leave(broker.url, group, m.memberId)
    expect((await reset('earliest')).body.offsets).toEqual([{ topic, partition: 0, offset: 0 }])
    expect((await groupOffsets(broker.url, group))[0]).toMatchObject({ committed: 0, lag: 10 })
  })

  it('answers unknown groups and members, bad bodies and out-of-range commits with the envelope', async () => {
    const topic = await createTopic(broker.url, 1)
    const group = unique('err')
    const missing = await json(`${broker.url}/v1/groups/${group}`, 'GET')
    expect([missing.status, missing.body.error.code]).toEqual([404, 'GROUP_NOT_FOUND'])
    const hbMissing = await json(`${broker.url}/v1/groups/${group}/members/nobody/heartbeat`, 'POST')
    expect([hbMissing.status, hbMissing.body.error.code]).toEqual([404, 'GROUP_NOT_FOUND'])
    const m = await join(broker.url, group, [topic])
    const noMember = await json(`${broker.url}/v1/groups/${group}/members/nobody/records`, 'GET')
    expect([noMember.status, noMember.body.error.code]).toEqual([404, 'MEMBER_NOT_FOUND'])
    const noTopic = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', {
      topics: [unique('none')],
    })
    expect([noTopic.status, noTopic.body.error.code]).toEqual([404, 'TOPIC_NOT_FOUND'])
    const badTimeout = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', {
      topics: [topic],
      sessionTimeoutMs: 10,
    })
    expect([badTimeout.status, badTimeout.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
    expect(badTimeout.body.error.message).toMatch(/sessionTimeoutMs/)
    const extra = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', {
      topics: [topic],
      autoAck: true,
    })
    expect([extra.status, extra.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
    const negative = await commit(broker.url, group, {
      memberId: m.memberId,
      offsets: [{ topic, partition: 0, offset: -1 }],
    })
    expect([negative.status, negative.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
    const past = await commit(broker.url, group, {
      memberId: m.memberId,
      offsets: [{ topic, partition: 0, offset: 5 }],
    })
    expect([past.status, past.body.error.code]).toEqual([416, 'OFFSET_OUT_OF_RANGE'])
    const anonymous = await commit(broker.url, group, { offsets: [{ topic, partition: 0, offset: 0 }] })
    expect([anonymous.status, anonymous.body.error.code]).toEqual([409, 'GROUP_NOT_EMPTY'])
    const badConfig = await json(`${broker.url}/v1/groups/${group}/config`, 'PUT', { maxDeliveries: 0 })
    expect([badConfig.status, badConfig.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
    const noDlq = await json(`${broker.url}/v1/groups/${group}/config`, 'PUT', {
      maxDeliveries: 2,
      deadLetterTopic: unique('none'),
    })
    expect([noDlq.status, noDlq.body.error.code]).toEqual([404, 'TOPIC_NOT_FOUND'])
    await leave(broker.url, group, m.memberId)
    const gone = await json(`${broker.url}/v1/groups/${group}/members/${m.memberId}`, 'DELETE')
    expect(gone.status).toBe(404)
  })

  it('long-polls until a record arrives on any of the member’s partitions', async () => {
    const topic = await createTopic(broker.url, 3)
    const group = unique('poll')
    const m = await join(broker.url, group, [topic])
    const started = Date.now()
    const pending = fetchRecords(broker.url, group, m.memberId, { maxWaitMs: 10_000 })
    await new Promise((r) => setTimeout(r, 300))
    await json(`${broker.url}/v1/topics/${topic}/partitions/2/records`, 'POST', {
      records: [{ value: 'late' }],
    })
    const got = await pending
    expect(got.records.map((r) => [r.partition, r.value])).toEqual([[2, 'late']])
    expect(Date.now() - started).toBeLessThan(9000)
    const empty = await fetchRecords(broker.url, group, m.memberId, { maxWaitMs: 200 })
    expect(empty.records).toEqual([])
  })

  it('takes turns between partitions so a deep one cannot starve the others', async () => {
    const topic = await createTopic(broker.url, 3)
    await json(`${broker.url}/v1/topics/${topic}/partitions/0/records`, 'POST', {
      records: Array.from({ length: 500 }, (_, i) => ({ value: i })),
    })
    await json(`${broker.url}/v1/topics/${topic}/partitions/1/records`, 'POST', {
      records: [{ value: 'one' }],
    })
    await json(`${broker.url}/v1/topics/${topic}/partitions/2/records`, 'POST', {
      records: [{ value: 'two' }],
    })
    const group = unique('rr')
    const m = await join(broker.url, group, [topic])
    const partitionsSeen = new Set<number>()
    for (let i = 0; i < 3; i++) {
      const got = await fetchRecords(broker.url, group, m.memberId, { maxRecords: 50 })
      for (const r of got.records) partitionsSeen.add(r.partition)
    }
    expect([...partitionsSeen].sort()).toEqual([0, 1, 2])
  })
})
