/**
 * A partition worker thread dies while producers write with acks=all (STRATA_TEST_HOOKS=1: SIGUSR2
 * makes worker 0 throw an uncaught error). The contract: requests in flight on it get 503
 * WORKER_FAILED with Retry-After — an answer, never a hang; the thread is replaced and its
 * partitions recovered; every confirmed record survives at its offset, offsets stay dense, a
 * request's records are never split; the failure is logged and counted; writes continue.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import { parsePromText, sample } from '../../unit/metrics/prom-text.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
})

async function readAll(url: string, topic: string, partition: number) {
  const out: Array<{ offset: number; value: string; key: string }> = []
  let offset = 0
  for (;;) {
    const res = await mp(
      `${url}/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=1000`,
      'GET',
    )
    expect(res.status).toBe(200)
    if (res.body.records.length === 0) return out
    out.push(...res.body.records)
    offset = res.body.nextOffset
  }
}

async function restarts(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return sample(parsePromText(text), 'strata_worker_restarts_total', { worker: '0' })
}

describe('a partition worker crash', () => {
  it('fails in-flight requests with WORKER_FAILED, recovers the partitions and keeps every confirmed record', async () => {
    broker = await startBroker({
      args: ['--workers', '2', '--log-level', 'info'],
      env: { STRATA_TEST_HOOKS: '1' },
    })
    const { url, pid } = broker
    const topic = `crash-${process.pid}`
    const partitions = 8
    expect((await json(`${url}/v1/topics`, 'POST', { name: topic, partitions })).status).toBe(201)

    const confirmed: Array<{ partition: number; offset: number; value: string }> = []
    const failures: Array<{ status: number; code: string; retryAfter: string | null }> = []
    const hangs: string[] = []
    let crashedAt = 0
    let stop = false
    const producer = async (p: number) => {
      for (let i = 0; !stop; i++) {
        const values = [0, 1, 2].map((k) => `p${p}-r${i}-${k}`)
        try {
          const res = await fetch(`${url}/v1/topics/${topic}/partitions/${p}/records`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ records: values.map((value) => ({ key: `p${p}-r${i}`, value })) }),
            signal: AbortSignal.timeout(20_000),
          })
          const body = (await res.json()) as {
            offsets: Array<{ offset: number }>
            error: { code: string }
          }
          if (res.status === 200) {
            body.offsets.forEach((o: { offset: number }, k: number) => {
              confirmed.push({ partition: p, offset: o.offset, value: values[k] as string })
            })
          } else {
            failures.push({
              status: res.status,
              code: body.error.code,
              retryAfter: res.headers.get('retry-after'),
            })
          }
        } catch (err) {
          hangs.push(`p${p}-r${i}: ${(err as Error).name}`)
        }
      }
    }
    const producers = Array.from({ length: partitions }, (_, p) => producer(p))
    await new Promise((r) => setTimeout(r, 700))
    process.kill(pid, 'SIGUSR2')
    crashedAt = Date.now()
    while ((await restarts(url)) < 1 && Date.now() - crashedAt < 20_000)
      await new Promise((r) => setTimeout(r, 50))
    const before = confirmed.length
    // Keep producing until every partition has taken writes again after the restart.
    while (confirmed.length < before + partitions * 5 && Date.now() - crashedAt < 30_000) {
      await new Promise((r) => setTimeout(r, 50))
    }
    stop = true
    await Promise.all(producers)

    expect(hangs).toEqual([])
    expect(failures.length).toBeGreaterThan(0)
    for (const f of failures) expect(f).toEqual({ status: 503, code: 'WORKER_FAILED', retryAfter: '1' })
    expect(await restarts(url)).toBe(1)
    // The log line (stdout, pino) is checked by the PoolRouter unit test; here the count.

    for (let p = 0; p < partitions; p++) {
      const records = await readAll(url, topic, p)
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i))
      const byOffset = new Map(records.map((r) => [r.offset, r.value]))
      for (const c of confirmed.filter((c) => c.partition === p)) expect(byOffset.get(c.offset)).toBe(c.value)
      // A request's three records land together or not at all (an unconfirmed one may have landed).
      const perKey = new Map<string, number>()
      for (const r of records) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1)
      for (const count of perKey.values()) expect(count).toBe(3)
    }
  })
})
