/** Helpers for the consumer-group tests: unique names, topics with records, and a member's calls. */
import { expect } from 'vitest'
import { jsonRequest as json, msgpackRequest as mp, type Reply } from '../../helpers/http.js'

let n = 0
export const unique = (prefix: string): string => `${prefix}-${process.pid}-${++n}`

export interface GroupRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: unknown
  value: unknown
  headers: Record<string, unknown>
}

export interface TopicPartitionOffset {
  topic: string
  partition: number
  offset: number
}

export const tp = (r: { topic: string; partition: number; offset?: number }): string =>
  `${r.topic}/${r.partition}`
export const id = (r: { topic: string; partition: number; offset: number }): string =>
  `${r.topic}/${r.partition}@${r.offset}`

export async function createTopic(url: string, partitions: number, prefix = 'gt'): Promise<string> {
  const name = unique(prefix)
  const res = await json(`${url}/v1/topics`, 'POST', { name, partitions })
  expect(res.status).toBe(201)
  return name
}

/** Produces `count` records with values `v0…v{count-1}`, spread evenly over the partitions. */
export async function produceSpread(url: string, topic: string, partitions: number, count: number, from = 0) {
  const records = Array.from({ length: count }, (_, i) => ({
    value: `v${from + i}`,
    partition: (from + i) % partitions,
  }))
  for (let i = 0; i < records.length; i += 1000) {
    const res = await json(`${url}/v1/topics/${topic}/records`, 'POST', {
      records: records.slice(i, i + 1000),
    })
    expect(res.status).toBe(200)
  }
}

export interface Joined {
  memberId: string
  generation: number
  assignments: Array<{ topic: string; partition: number }>
}

export async function join(
  url: string,
  group: string,
  topics: string[],
  opts: {
    sessionTimeoutMs?: number
    autoCommit?: boolean
    owned?: Array<{ topic: string; partition: number }>
  } = {},
): Promise<Joined> {
  const res = await json(`${url}/v1/groups/${group}/members`, 'POST', { topics, ...opts })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

export async function heartbeat(url: string, group: string, memberId: string) {
  const res = await json(`${url}/v1/groups/${group}/members/${memberId}/heartbeat`, 'POST')
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body as {
    generation: number
    assignments: Array<{ topic: string; partition: number }>
    rebalancing: boolean
  }
}

export async function leave(url: string, group: string, memberId: string): Promise<void> {
  const res = await json(`${url}/v1/groups/${group}/members/${memberId}`, 'DELETE')
  expect(res.status).toBe(204)
}

/** GET form of the member fetch, in MessagePack. */
export async function fetchRecords(
  url: string,
  group: string,
  memberId: string,
  query: { maxRecords?: number; maxWaitMs?: number; maxBytes?: number } = {},
): Promise<{ generation: number; records: GroupRecord[] }> {
  const qs = new URLSearchParams(
    Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString()
  const res = await mp(`${url}/v1/groups/${group}/members/${memberId}/records?${qs}`, 'GET')
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

/** POST form: commit the previous batch and fetch the next one. */
export async function commitAndFetch(
  url: string,
  group: string,
  memberId: string,
  body: { commit?: TopicPartitionOffset[]; maxRecords?: number; maxWaitMs?: number },
): Promise<Reply> {
  return mp(`${url}/v1/groups/${group}/members/${memberId}/records`, 'POST', body)
}

/** What committing a batch means: per partition, the offset after its last record. */
export function commitsFor(records: readonly GroupRecord[]): TopicPartitionOffset[] {
  const next = new Map<string, TopicPartitionOffset>()
  for (const r of records) {
    const prev = next.get(tp(r))
    if (!prev || prev.offset < r.offset + 1)
      next.set(tp(r), { topic: r.topic, partition: r.partition, offset: r.offset + 1 })
  }
  return [...next.values()]
}

export async function commit(
  url: string,
  group: string,
  body: { memberId?: string; generation?: number; offsets: TopicPartitionOffset[] },
): Promise<Reply> {
  return json(`${url}/v1/groups/${group}/offsets`, 'POST', body)
}

export async function groupOffsets(url: string, group: string) {
  const res = await json(`${url}/v1/groups/${group}/offsets`, 'GET')
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.offsets as Array<{
    topic: string
    partition: number
    committed: number | null
    logEndOffset: number
    lag: number
  }>
}

/**
 * Consumes with the POST form only: each call commits the previous batch. Stops after `idleRounds`
 * empty answers in a row, and commits the last batch with a final empty fetch.
 */
export async function drainWithPost(
  url: string,
  group: string,
  memberId: string,
  opts: { maxRecords?: number; idleRounds?: number; maxWaitMs?: number } = {},
): Promise<GroupRecord[]> {
  const seen: GroupRecord[] = []
  let previous: GroupRecord[] = []
  let idle = 0
  for (let guard = 0; guard < 10_000 && idle < (opts.idleRounds ?? 2); guard++) {
    const res = await commitAndFetch(url, group, memberId, {
      commit: commitsFor(previous),
      maxRecords: opts.maxRecords ?? 100,
      maxWaitMs: opts.maxWaitMs ?? 200,
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    previous = res.body.records
    seen.push(...previous)
    idle = previous.length === 0 ? idle + 1 : 0
  }
  return seen
}

/** Counts how often each record id occurs. */
export function occurrences(records: readonly GroupRecord[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of records) out.set(id(r), (out.get(id(r)) ?? 0) + 1)
  return out
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` until it returns true or `timeoutMs` passes (then fails with `what`). */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for: ${what}`)
}
