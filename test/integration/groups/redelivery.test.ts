/**
 * At-least-once with manual acks, against a real broker: a consumer process that took records and
 * is killed with SIGKILL before committing them, or a member that just goes silent, loses its
 * partitions when its session runs out, and the next owner receives exactly the records it took but
 * did not commit, and none it committed. Poison records: a record that a consumer keeps crashing on
 * goes to the dead-letter topic after `maxDeliveries`, with its origin in headers, and the group
 * moves on.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import {
  commit,
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
  produceSpread,
  unique,
} from './group-helpers.js'

const CONSUMER = resolve(import.meta.dirname, 'fixtures/greedy-consumer.mjs')

let broker: BrokerProcess
beforeAll(async () => {
  broker = await startBroker({ args: ['--group-min-session-timeout-ms', '100'] })
})
afterAll(async () => {
  await broker?.stop()
})

interface ConsumerReport {
  memberId: string
  taken: GroupRecord[]
  committed: Array<{ topic: string; partition: number; offset: number }>
}

/** Starts the greedy consumer process and resolves with its report line (and the process). */
function startConsumer(args: string[]): Promise<{ child: ChildProcess; report: ConsumerReport }> {
  const child = spawn(process.execPath, [CONSUMER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return new Promise((res, rej) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n') && line) res({ child, report: JSON.parse(line) })
    })
    child.once('exit', (code) => rej(new Error(`consumer exited with ${code} before reporting\n${err}`)))
  })
}

/** Long-polls as `memberId` until `count` records arrive (or fails after `timeoutMs`). */
async function collect(
  group: string,
  memberId: string,
  count: number,
  timeoutMs = 20_000,
): Promise<GroupRecord[]> {
  const got: GroupRecord[] = []
  const deadline = Date.now() + timeoutMs
  while (got.length < count && Date.now() < deadline) {
    const res = await fetchRecords(broker.url, group, memberId, { maxWaitMs: 1000 })
    got.push(...res.records)
  }
  return got
}

describe('a consumer that dies before committing', () => {
  it('kill -9 of a consumer process: after its session times out the survivor gets exactly its uncommitted records', async () => {
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 40)
    const group = unique('crash')
    const survivor = await join(broker.url, group, [topic], { sessionTimeoutMs: 20_000 })
    const { child, report } = await startConsumer([broker.url, group, topic, '1000', '20', '5'])
    let killed = false
    try {
      // The consumer took the partition it was given (the survivor's highest) and committed 5 of its 20.
      expect(report.taken).toHaveLength(20)
      const lostPartition = report.taken[0]?.partition as number
      expect(report.taken.every((r) => r.partition === lostPartition)).toBe(true)
      expect(report.committed).toEqual([{ topic, partition: lostPartition, offset: 5 }])
      const own = await heartbeat(broker.url, group, survivor.memberId)
      expect(own.assignments.map((a) => a.partition)).toEqual([1 - lostPartition])
      const mine = await drainWithPost(broker.url, group, survivor.memberId, { maxWaitMs: 100 })
      expect(mine.map((r) => r.partition)).toEqual(Array(20).fill(1 - lostPartition))

      child.kill('SIGKILL')
      killed = true
      const redelivered = await collect(group, survivor.memberId, 15)
      expect(redelivered.map(id)).toEqual(report.taken.slice(5).map(id))
      expect(redelivered.map((r) => r.value)).toEqual(report.taken.slice(5).map((r) => r.value))
      // Nothing committed came back, and nothing more is waiting.
      expect((await fetchRecords(broker.url, group, survivor.memberId, { maxWaitMs: 300 })).records).toEqual(
        [],
      )
      const after = await heartbeat(broker.url, group, survivor.memberId)
      expect(after.assignments.map((a) => a.partition).sort()).toEqual([0, 1])
      expect(after.generation).toBeGreaterThan(own.generation)
      const res = await commit(broker.url, group, {
        memberId: survivor.memberId,
        offsets: commitsFor(redelivered),
      })
      expect(res.status).toBe(204)
      expect((await groupOffsets(broker.url, group)).map((o) => o.lag)).toEqual([0, 0])
    } finally {
      if (!killed) child.kill('SIGKILL')
    }
  })

  it('a member that stops heartbeating: its uncommitted records go to another member after its session', async () => {
    const topic = await createTopic(broker.url, 2)
    await produceSpread(broker.url, topic, 2, 20)
    const group = unique('silent')
    const quiet = await join(broker.url, group, [topic], { sessionTimeoutMs: 300 })
    const other = await join(broker.url, group, [topic], { sessionTimeoutMs: 20_000 })
    const quietNow = await heartbeat(broker.url, group, quiet.memberId)
    expect(quietNow.assignments).toHaveLength(1)
    const taken = (await fetchRecords(broker.url, group, quiet.memberId)).records
    expect(taken).toHaveLength(10)
    const firstFour = taken.slice(0, 4)
    expect(
      (await commit(broker.url, group, { memberId: quiet.memberId, offsets: commitsFor(firstFour) })).status,
    ).toBe(204)
    // `quiet` says nothing more. `other` reads its own partition, and the rest of quiet's once its session is over.
    const quietPartition = taken[0]?.partition
    const got = await collect(group, other.memberId, 16)
    expect(got.filter((r) => r.partition !== quietPartition)).toHaveLength(10)
    expect(got.filter((r) => r.partition === quietPartition).map(id)).toEqual(taken.slice(4).map(id))
    expect((await fetchRecords(broker.url, group, other.memberId, { maxWaitMs: 300 })).records).toEqual([])
    const gone = await json(`${broker.url}/v1/groups/${group}/members/${quiet.memberId}/heartbeat`, 'POST')
    expect([gone.status, gone.body.error.code]).toEqual([404, 'MEMBER_NOT_FOUND'])
  })
})

describe('poison records', () => {
  it('go to the dead-letter topic after maxDeliveries with their origin, and the group moves on', async () => {
    const topic = await createTopic(broker.url, 1)
    const dlq = await createTopic(broker.url, 1, 'dlq')
    const raw = Buffer.from([0xde, 0xad, 0xbe, 0xef])
    const produced = await mp(`${broker.url}/v1/topics/${topic}/records`, 'POST', {
      records: [
        { value: 'ok-0' },
        { key: raw, value: { poison: true, raw }, headers: { trace: 'abc', bin: raw } },
        { value: 'ok-2' },
      ],
    })
    expect(produced.status).toBe(200)
    const group = unique('poison')
    const config = await json(`${broker.url}/v1/groups/${group}/config`, 'PUT', {
      maxDeliveries: 3,
      deadLetterTopic: dlq,
    })
    expect(config.status).toBe(200)
    expect(config.body).toEqual({ group, config: { maxDeliveries: 3, deadLetterTopic: dlq } })

    // A consumer that commits good records and crashes (goes silent) on the poison one, again and again.
    const deliveries: GroupRecord[] = []
    let crashes = 0
    let done = false
    for (let attempt = 0; attempt < 10 && !done; attempt++) {
      const m = await join(broker.url, group, [topic], { sessionTimeoutMs: 200 })
      for (;;) {
        const batch = await fetchRecords(broker.url, group, m.memberId, { maxRecords: 1, maxWaitMs: 1000 })
        const record = batch.records[0]
        if (!record) break
        deliveries.push(record)
        if ((record.value as { poison?: boolean }).poison) {
          crashes++
          await eventually('the crashed member’s session to expire', async () => {
            const d = await json(`${broker.url}/v1/groups/${group}`, 'GET')
            return d.body.members.length === 0
          })
          break
        }
        expect(
          (await commit(broker.url, group, { memberId: m.memberId, offsets: commitsFor([record]) })).status,
        ).toBe(204)
        if (record.value === 'ok-2') {
          done = true
          break
        }
      }
    }
    expect(done).toBe(true)
    expect(crashes).toBe(3)
    expect(deliveries.map((r) => r.offset)).toEqual([0, 1, 1, 1, 2])

    const dead = await mp(`${broker.url}/v1/topics/${dlq}/partitions/0/records?offset=0`, 'GET')
    expect(dead.body.records).toHaveLength(1)
    const copy = dead.body.records[0]
    expect(Buffer.from(copy.key)).toEqual(raw)
    expect(copy.value.poison).toBe(true)
    expect(Buffer.from(copy.value.raw)).toEqual(raw)
    expect(copy.headers.trace).toBe('abc')
    expect(Buffer.from(copy.headers.bin)).toEqual(raw)
    expect(copy.headers).toMatchObject({
      'x-origin-topic': topic,
      'x-origin-partition': '0',
      'x-origin-offset': '1',
      'x-delivery-count': '3',
      'x-dead-letter-group': group,
    })
    expect((await groupOffsets(broker.url, group))[0]).toMatchObject({ committed: 3, lag: 0 })
  })
})
