/**
 * The big-JSON-fetch attack of issue 11, item 8, as a figure: 12 readers fetch a 24 MB partition
 * as JSON with maxBytes = 16 MiB, all at once, reading on from nextOffset to the end, while a loop
 * polls /healthz. Reports the slowest /healthz answer during the attack, the broker's peak RSS
 * (VmRSS from /proc), how many fetches it took and how many were throttled (429, retried after
 * 200 ms).
 *
 *   npm run build && node bench/http/json-fetch-attack.mjs
 *   STRATA_BENCH_DIST=$(node bench/clean-build.mjs <rev>) node bench/http/json-fetch-attack.mjs
 */
import { readFileSync } from 'node:fs'
import { DIST, startBroker } from '../lib/proc.mjs'

const READERS = 12
const RECORDS = 240
const RECORD_CHARS = 100_000
const MiB = 1024 * 1024

const rssOf = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return res.json()
}

const broker = await startBroker()
try {
  const topic = 'json-attack'
  await post(`${broker.url}/v1/topics`, { name: topic, partitions: 1 })
  for (let i = 0; i < RECORDS; i += 40) {
    const records = Array.from({ length: 40 }, (_, k) => ({ value: `${i + k}:${'x'.repeat(RECORD_CHARS)}` }))
    await post(`${broker.url}/v1/topics/${topic}/records`, { records })
  }
  const rssBefore = rssOf(broker.pid)
  let stopped = false
  let slowestHealthMs = 0
  let healthChecks = 0
  let peakRss = rssBefore
  const health = (async () => {
    while (!stopped) {
      const started = performance.now()
      await (await fetch(`${broker.url}/healthz`)).arrayBuffer()
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started)
      healthChecks++
      peakRss = Math.max(peakRss, rssOf(broker.pid))
      await sleep(20)
    }
  })()
  let fetches = 0
  let throttled = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      let offset = 0
      while (offset < RECORDS) {
        const res = await fetch(
          `${broker.url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=${16 * MiB}&maxRecords=10000`,
        )
        fetches++
        if (res.status === 429) {
          throttled++
          await res.arrayBuffer()
          await sleep(200)
          continue
        }
        const body = await res.json()
        if (res.status !== 200) throw new Error(JSON.stringify(body))
        offset = body.nextOffset
      }
    }),
  )
  const attackMs = performance.now() - started
  stopped = true
  await health
  console.log(
    `json-fetch-attack: ${READERS} readers × ${RECORDS} records of ${RECORD_CHARS} B, build ${DIST}`,
  )
  console.log(
    '| slowest /healthz ms | /healthz checks | RSS before MB | peak RSS MB | fetches | throttled | attack s |',
  )
  console.log('|---:|---:|---:|---:|---:|---:|---:|')
  console.log(
    `| ${slowestHealthMs.toFixed(0)} | ${healthChecks} | ${(rssBefore / MiB).toFixed(0)} | ${(peakRss / MiB).toFixed(0)} | ${fetches} | ${throttled} | ${(attackMs / 1000).toFixed(1)} |`,
  )
} finally {
  await broker.stop()
}
