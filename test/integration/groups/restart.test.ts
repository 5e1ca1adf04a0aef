/**
 * Committed offsets live in the broker's own log: a `kill -9` and restart keeps every acknowledged
 * commit (a 204 means fsynced) and the group's lag; auto ack counts delivered records as committed,
 * so a clean restart does not deliver them again; a consumer that uses only the POST form (commit
 * the previous batch, fetch the next) sees every record once and ends with lag 0, across a restart;
 * deleting a topic drops its committed offsets for good; the group config survives restarts.
 */
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'
import {
  commit,
  commitsFor,
  createTopic,
  drainWithPost,
  fetchRecords,
  groupOffsets,
  id,
  join,
  occurrences,
  produceSpread,
  unique,
} from './group-helpers.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  // A restarted broker keeps its data directory on stop (it was passed in); remove it here.
  if (broker) rmSync(broker.dataDir, { recursive: true, force: true })
  broker = undefined
})

describe('committed offsets across restarts', () => {
  it('kill -9 and restart keeps committed offsets and lag; a new member resumes at the commits', async () => {
    broker = await startBroker()
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 100)
    const group = unique('durable')
    const m = await join(broker.url, group, [topic])
    const taken = (await fetchRecords(broker.url, group, m.memberId, { maxRecords: 100 })).records
    expect(taken).toHaveLength(100)
    const offsets = [
      { topic, partition: 0, offset: 30 },
      { topic, partition: 1, offset: 20 },
    ]
    // Many small commits, as a consumer makes them; each 204 is fsynced before it is answered.
    for (let i = 1; i <= 30; i++) {
      const res = await commit(broker.url, group, {
        memberId: m.memberId,
        offsets: [{ topic, partition: 0, offset: i }],
      })
      expect(res.status).toBe(204)
    }
    expect((await commit(broker.url, group, { memberId: m.memberId, offsets })).status).toBe(204)
    const before = await groupOffsets(broker.url, group)
    expect(before.map((o) => [o.partition, o.committed, o.logEndOffset, o.lag])).toEqual([
      [0, 30, 50, 20],
      [1, 20, 50, 30],
    ])

    await broker.kill('SIGKILL')
    broker = await broker.restart()
    expect(await groupOffsets(broker.url, group)).toEqual(before)
    const described = await json(`${broker.url}/v1/groups/${group}`, 'GET')
    expect(described.body).toMatchObject({ group, state: 'empty', lag: 50, members: [] })
    // The old member is gone with the old process; a new one starts at the commits.
    const stale = await json(`${broker.url}/v1/groups/${group}/members/${m.memberId}/heartbeat`, 'POST')
    expect([stale.status, stale.body.error.code]).toEqual([404, 'MEMBER_NOT_FOUND'])
    const again = await join(broker.url, group, [topic])
    const rest = await drainWithPost(broker.url, group, again.memberId, { maxWaitMs: 100 })
    expect(rest).toHaveLength(50)
    expect(Math.min(...rest.filter((r) => r.partition === 0).map((r) => r.offset))).toBe(30)
    expect(Math.min(...rest.filter((r) => r.partition === 1).map((r) => r.offset))).toBe(20)
    expect((await groupOffsets(broker.url, group)).map((o) => o.lag)).toEqual([0, 0])
  })

  it('auto ack: delivered records count as committed and are not delivered again after a clean restart', async () => {
    broker = await startBroker()
    const topic = await createTopic(broker.url, 1)
    await produceSpread(broker.url, topic, 1, 25)
    const group = unique('autoack')
    const m = await join(broker.url, group, [topic], { autoCommit: true })
    const first = await fetchRecords(broker.url, group, m.memberId, { maxRecords: 10 })
    expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect((await groupOffsets(broker.url, group))[0]).toMatchObject({ committed: 10, lag: 15 })

    broker = await broker.restart()
    const next = await join(broker.url, group, [topic], { autoCommit: true })
    const rest = await fetchRecords(broker.url, group, next.memberId, { maxRecords: 100 })
    expect(rest.records.map((r) => r.offset)).toEqual(Array.from({ length: 15 }, (_, i) => 10 + i))
    expect((await groupOffsets(broker.url, group))[0]).toMatchObject({ committed: 25, lag: 0 })
    expect((await fetchRecords(broker.url, group, next.memberId, { maxWaitMs: 200 })).records).toEqual([])
  })

  it('commit-with-fetch: a consumer using only the POST form sees every record once and its lag reaches 0', async () => {
    broker = await startBroker({ args: ['--group-min-session-timeout-ms', '100'] })
    const topic = await createTopic(broker.url, 3)
    await produceSpread(broker.url, topic, 3, 900)
    const group = unique('postform')
    const m = await join(broker.url, group, [topic])
    const firstHalf = await drainWithPost(broker.url, group, m.memberId, { maxRecords: 64, maxWaitMs: 100 })
    // More records while it runs, and a clean restart in between: the commits carry over.
    await produceSpread(broker.url, topic, 3, 300, 900)
    broker = await broker.restart()
    const m2 = await join(broker.url, group, [topic])
    const secondHalf = await drainWithPost(broker.url, group, m2.memberId, { maxRecords: 64, maxWaitMs: 100 })
    const all = [...firstHalf, ...secondHalf]
    expect(all).toHaveLength(1200)
    expect([...occurrences(all).values()].every((c) => c === 1)).toBe(true)
    expect(all.map((r) => r.value).sort()).toEqual(Array.from({ length: 1200 }, (_, i) => `v${i}`).sort())
    for (const p of [0, 1, 2]) {
      const offsets = all.filter((r) => r.partition === p).map((r) => r.offset)
      expect(offsets).toEqual(Array.from({ length: 400 }, (_, i) => i))
    }
    const lag = await groupOffsets(broker.url, group)
    expect(lag.map((o) => [o.committed, o.lag])).toEqual([
      [400, 0],
      [400, 0],
      [400, 0],
    ])
  })

  it('drops a deleted topic’s offsets for good and keeps the group config', async () => {
    broker = await startBroker()
    const doomed = await createTopic(broker.url, 1)
    const kept = await createTopic(broker.url, 1)
    const dlq = await createTopic(broker.url, 1, 'dlq')
    await produceSpread(broker.url, doomed, 1, 3)
    await produceSpread(broker.url, kept, 1, 3)
    const group = unique('tomb')
    const set = await json(`${broker.url}/v1/groups/${group}/config`, 'PUT', {
      maxDeliveries: 5,
      deadLetterTopic: dlq,
    })
    expect(set.status).toBe(200)
    const res = await commit(broker.url, group, {
      offsets: [
        { topic: doomed, partition: 0, offset: 2 },
        { topic: kept, partition: 0, offset: 1 },
      ],
    })
    expect(res.status).toBe(204)
    expect((await json(`${broker.url}/v1/topics/${doomed}`, 'DELETE')).status).toBe(204)
    expect((await groupOffsets(broker.url, group)).map((o) => o.topic)).toEqual([kept])

    await broker.kill('SIGKILL')
    broker = await broker.restart()
    expect((await groupOffsets(broker.url, group)).map((o) => [o.topic, o.committed])).toEqual([[kept, 1]])
    // A topic created again under the old name starts with no committed offset.
    expect((await json(`${broker.url}/v1/topics`, 'POST', { name: doomed })).status).toBe(201)
    const m = await join(broker.url, group, [doomed, kept])
    const got = await fetchRecords(broker.url, group, m.memberId)
    expect(got.records.map(id).sort()).toEqual([`${kept}/0@1`, `${kept}/0@2`])
    const described = await json(`${broker.url}/v1/groups/${group}`, 'GET')
    expect(described.body.config).toEqual({ maxDeliveries: 5, deadLetterTopic: dlq })
    const c = await commit(broker.url, group, { memberId: m.memberId, offsets: commitsFor(got.records) })
    expect(c.status).toBe(204)
  })
})
