/**
 * A thin HTTP client of docs/http-api.md for setting benchmarks up (topics, preloading, metrics) and for the
 * paths the built client library does not cover yet. MessagePack both ways, one undici pool.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Packr, Unpackr } from 'msgpackr'
import { Pool } from 'undici'
import { DIST } from './proc.mjs'

const MSGPACK = 'application/vnd.msgpack'
export const packr = new Packr({ useRecords: false, variableMapSize: true })
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

export class WireClient {
  constructor(url, { connections = 8 } = {}) {
    this.url = url
    this.pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000 })
  }

  async call(method, path, body, { json = false } = {}) {
    const headers = { accept: json ? 'application/json' : MSGPACK }
    let payload
    if (body !== undefined) {
      headers['content-type'] = json ? 'application/json' : MSGPACK
      payload = json ? JSON.stringify(body) : packr.pack(body)
    }
    const res = await this.pool.request({ method, path, headers, body: payload })
    const buf = Buffer.from(await res.body.arrayBuffer())
    const type = String(res.headers['content-type'] ?? '')
    const value =
      buf.length === 0
        ? undefined
        : type.includes('msgpack')
          ? unpackr.unpack(buf)
          : type.includes('json')
            ? JSON.parse(buf.toString())
            : buf.toString()
    if (res.statusCode >= 400) {
      const err = new Error(
        `${method} ${path} → ${res.statusCode} ${value?.error?.code ?? ''} ${value?.error?.message ?? ''}`,
      )
      err.status = res.statusCode
      err.code = value?.error?.code
      throw err
    }
    return value
  }

  createTopic(name, partitions = 1, config) {
    return this.call('POST', '/v1/topics', { name, partitions, ...(config ? { config } : {}) })
  }

  describeTopic(name) {
    return this.call('GET', `/v1/topics/${name}`)
  }

  produce(topic, records, acks = 'all', partition) {
    const path =
      partition === undefined
        ? `/v1/topics/${topic}/records`
        : `/v1/topics/${topic}/partitions/${partition}/records`
    return this.call('POST', path, { records, acks })
  }

  /** Prometheus text of GET /metrics, or undefined when the broker has no such route. */
  async metricsText() {
    const res = await this.pool.request({ method: 'GET', path: '/metrics' })
    const text = await res.body.text()
    return res.statusCode === 200 ? text : undefined
  }

  /** True when the broker serves consumer groups (POST /v1/groups/.../members is routed). */
  async hasGroups() {
    try {
      await this.call('GET', '/v1/groups')
      return true
    } catch (err) {
      return !(err.status === 404 && err.code === 'NOT_FOUND')
    }
  }

  close() {
    return this.pool.close()
  }
}

/** Writes `count` records of `size` bytes to `topic` in requests of `batch` records (acks=all). */
export async function preload(
  client,
  topic,
  count,
  size,
  { batch = 1000, concurrency = 4, partitions = 1 } = {},
) {
  const value = Buffer.alloc(size, 0x61)
  let next = 0
  let n = 0
  const worker = async () => {
    while (next < count) {
      const k = Math.min(batch, count - next)
      next += k
      const partition = n++ % partitions
      const records = Array.from({ length: k }, () => ({ value }))
      await client.produce(topic, records, 'all', partition)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/** The built client library (dist/src/client/index.js), or undefined before it exists. */
export async function loadClient() {
  const path = join(DIST, 'src/client/index.js')
  if (!existsSync(path)) return undefined
  return import(pathToFileURL(path).href)
}

// ---- Prometheus text -------------------------------------------------------------------------

/** Parses Prometheus text into [{name, labels, value}] (enough for counters and gauges). */
export function parsePrometheus(text) {
  const out = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels = {}
    if (m[2]) for (const l of m[2].slice(1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

/** Sum of every sample whose name matches `re` (e.g. a counter over all partitions). */
export function sumMetric(samples, re) {
  let sum = 0
  let found = false
  for (const s of samples) {
    if (re.test(s.name)) {
      sum += s.value
      found = true
    }
  }
  return found ? sum : undefined
}
