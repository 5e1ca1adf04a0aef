/**
 * Hardening (issue 11): one client's requests must not take the broker down for everyone else.
 * Each attack runs against a real broker process while a loop polls `/healthz`; every health check
 * must answer within a generous bound (a second, where the attacks used to block for many), and the
 * attack itself gets exact answers: assignments, records, offsets and error codes.
 *
 * 7. Group membership costs linear time: a group is capped at `--max-group-members` (a join past it
 *    is 409 GROUP_MAX_SIZE_REACHED), and a full group whose sessions all run out together is
 *    removed by one sweep with one rebalance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'
import { createTopic, eventually, type Joined, join, unique } from '../groups/group-helpers.js'

/** Far above a healthy answer (a few ms), far below the seconds the attacks used to block for. */
const HEALTH_BOUND_MS = 1000

interface HealthWatch {
  /** Stops polling; resolves to the slowest answer seen and how many checks ran. */
  stop(): Promise<{ slowestMs: number; checks: number; failures: string[] }>
}

/** Polls `/healthz` back to back (20 ms apart) until stopped, or for at most `maxChecks` rounds. */
function watchHealth(url: string, maxChecks = 20_000): HealthWatch {
  let stopped = false
  let slowestMs = 0
  let checks = 0
  const failures: string[] = []
  const loop = (async () => {
    while (!stopped && checks < maxChecks) {
      const started = performance.now()
      try {
        const res = await fetch(`${url}/healthz`)
        await res.arrayBuffer()
        if (res.status !== 200) failures.push(`status ${res.status}`)
      } catch (err) {
        failures.push(String(err))
      }
      slowestMs = Math.max(slowestMs, performance.now() - started)
      checks++
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      return { slowestMs, checks, failures }
    },
  }
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
async function inParallel<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>) {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await task(items[i] as T)
      }
    }),
  )
  return out
}

describe('item 7: group membership costs linear time', () => {
  const CAP = 1000
  const PARTITIONS = 16
  let broker: BrokerProcess
  beforeAll(async () => {
    broker = await startBroker({ args: ['--max-group-members', String(CAP)] })
  })
  afterAll(async () => {
    await broker?.stop()
  })

  it('item 7: a full group of 1,000 members expires together while /healthz answers; member 1,001 gets 409', async () => {
    const topic = await createTopic(broker.url, PARTITIONS, 'cap')
    const group = unique('crowd')
    const health = watchHealth(broker.url)
    const joined = await inParallel(
      Array.from({ length: CAP }, (_, i) => i),
      25,
      // Long enough that the first members are still there when the last ones join.
      (): Promise<Joined> => join(broker.url, group, [topic], { sessionTimeoutMs: 20_000 }),
    )
    expect(new Set(joined.map((j) => j.memberId)).size).toBe(CAP)

    const over = await json(`${broker.url}/v1/groups/${group}/members`, 'POST', { topics: [topic] })
    expect(over.status).toBe(409)
    expect(over.body.error.code).toBe('GROUP_MAX_SIZE_REACHED')
    expect(over.body.error.details).toMatchObject({ group, members: CAP, maxGroupMembers: CAP })

    // Every partition has exactly one owner, and nobody holds two while others hold none.
    const described = await json(`${broker.url}/v1/groups/${group}`, 'GET')
    expect(described.status).toBe(200)
    const members = described.body.members as Array<{ assignments: Array<{ partition: number }> }>
    expect(members).toHaveLength(CAP)
    const owned = members.flatMap((m) => m.assignments.map((a) => a.partition)).sort((a, b) => a - b)
    expect(owned).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p))
    expect(Math.max(...members.map((m) => m.assignments.length))).toBe(1)

    // No heartbeats: all 1,000 sessions run out within a few seconds of each other.
    await eventually(
      'every member to expire',
      async () => (await json(`${broker.url}/v1/groups/${group}`, 'GET')).status === 404,
      60_000,
    )
    const seen = await health.stop()
    expect(seen.failures).toEqual([])
    expect(seen.checks).toBeGreaterThan(10)
    expect(seen.slowestMs, `slowest /healthz of ${seen.checks}`).toBeLessThan(HEALTH_BOUND_MS)

    // The group is usable again: a lone member gets every partition.
    const alone = await join(broker.url, group, [topic])
    expect(alone.assignments.map((a) => a.partition)).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p))
  }, 120_000)
})
