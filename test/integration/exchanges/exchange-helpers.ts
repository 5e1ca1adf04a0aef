/**
 * Shared steps of the exchange end-to-end tests: create topics, exchanges and bindings through
 * the HTTP API (asserting each step's status), publish, and read a topic back in full through the
 * partition fetch, so a test can compare exactly what each topic holds.
 */
import { expect } from 'vitest'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'

export interface Routed {
  topic: string
  partition: number
  offset: number
}

export interface StoredRecord {
  partition: number
  offset: number
  timestamp: number
  key: unknown
  value: unknown
  headers: Record<string, unknown>
}

let n = 0
/** A name no other test in this run uses (names are also unique across the files' processes). */
export const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${++n}`

export async function createTopic(url: string, prefix = 't', partitions = 1): Promise<string> {
  const name = uniqueName(prefix)
  const res = await json(`${url}/v1/topics`, 'POST', { name, partitions })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return name
}

export async function createExchange(
  url: string,
  type: 'direct' | 'topic' | 'fanout',
  alternateTopic?: string,
): Promise<string> {
  const name = uniqueName(`x-${type}`)
  const res = await json(`${url}/v1/exchanges`, 'POST', {
    name,
    type,
    ...(alternateTopic === undefined ? {} : { alternateTopic }),
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  expect(res.body).toEqual({
    name,
    type,
    alternateTopic: alternateTopic ?? null,
    bindings: [],
    stats: { routed: 0, unroutable: 0 },
  })
  return name
}

export async function bind(url: string, exchange: string, topic: string, bindingKey?: string): Promise<void> {
  const res = await json(`${url}/v1/exchanges/${exchange}/bindings`, 'POST', {
    topic,
    ...(bindingKey === undefined ? {} : { bindingKey }),
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
}

export async function publish(
  url: string,
  exchange: string,
  records: Array<Record<string, unknown>>,
  encoding: 'json' | 'msgpack' = 'json',
): Promise<Routed[][]> {
  const send = encoding === 'json' ? json : mp
  const res = await send(`${url}/v1/exchanges/${exchange}/records`, 'POST', { records })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  expect(res.body.results).toHaveLength(records.length)
  return res.body.results.map((r: { routed: Routed[] }) => r.routed)
}

/** Every record of every partition of a topic, partition by partition, in offset order. */
export async function readTopic(
  url: string,
  topic: string,
  encoding: 'json' | 'msgpack' = 'json',
): Promise<StoredRecord[]> {
  const send = encoding === 'json' ? json : mp
  const described = await json(`${url}/v1/topics/${topic}`, 'GET')
  expect(described.status, JSON.stringify(described.body)).toBe(200)
  const out: StoredRecord[] = []
  for (const { partition, highWatermark } of described.body.partitions as Array<{
    partition: number
    highWatermark: number
  }>) {
    let offset = 0
    while (offset < highWatermark) {
      const res = await send(
        `${url}/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=1000`,
        'GET',
      )
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(res.body.records.length).toBeGreaterThan(0)
      for (const r of res.body.records) out.push({ partition, ...r })
      offset = res.body.nextOffset
    }
  }
  return out
}

/** The values a topic holds, in (partition, offset) order. */
export async function valuesOf(url: string, topic: string): Promise<unknown[]> {
  return (await readTopic(url, topic)).map((r) => r.value)
}

/** The one record stored at (topic, partition, offset), read with the partition fetch. */
export async function recordAt(url: string, at: Routed, encoding: 'json' | 'msgpack' = 'json') {
  const send = encoding === 'json' ? json : mp
  const res = await send(
    `${url}/v1/topics/${at.topic}/partitions/${at.partition}/records?offset=${at.offset}&maxRecords=1`,
    'GET',
  )
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  expect(res.body.records).toHaveLength(1)
  expect(res.body.records[0].offset).toBe(at.offset)
  return res.body.records[0] as Omit<StoredRecord, 'partition'>
}

/** Sorts a confirm's routed list by topic name, so assertions do not depend on produce order. */
export const byTopic = (routed: Routed[]): Routed[] =>
  [...routed].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))

/** Definitions only: what persists across restarts (stats are per process). */
export function definitions(exchanges: Array<Record<string, unknown>>) {
  return exchanges.map(({ stats: _stats, ...definition }) => definition)
}
