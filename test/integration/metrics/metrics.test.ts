/**
 * GET /metrics on a real broker process, in-process partitions and 2 workers alike: the answer
 * parses as Prometheus text (every line a HELP/TYPE comment or a well-formed sample of a typed
 * family); produce and fetch counters move by exactly the requests and records sent and read,
 * per topic; fsyncs from the worker threads appear in the same answer and cover every record;
 * partition offsets match the log; process metrics are there.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import { type PromText, parsePromText, sample } from '../../unit/metrics/prom-text.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
})

async function scrape(url: string): Promise<PromText> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4')
  return parsePromText(await res.text())
}

describe.each([0, 2])('/metrics with --workers %i', (workers) => {
  it('moves produce and fetch counters by the exact records, with fsyncs from every owner', async () => {
    broker = await startBroker({ args: ['--workers', String(workers)] })
    const { url } = broker
    const topic = `metrics-${workers}-${process.pid}`
    const other = `other-${workers}-${process.pid}`
    expect((await json(`${url}/v1/topics`, 'POST', { name: topic, partitions: 4 })).status).toBe(201)
    expect((await json(`${url}/v1/topics`, 'POST', { name: other, partitions: 1 })).status).toBe(201)
    expect(
      (await mp(`${url}/v1/topics/${other}/records`, 'POST', { records: [{ value: 'warm' }] })).status,
    ).toBe(200)
    const before = await scrape(url)

    // 3 requests by key over several partitions, 2 to one partition, 1 acks=1: 7+5+1+3+4+2 records.
    const sizes = [7, 5, 1, 3, 4, 2]
    let requests = 0
    for (const [i, n] of sizes.entries()) {
      const body = {
        records: Array.from({ length: n }, (_, k) => ({ key: `k${k}`, value: `v${i}-${k}` })),
        acks: i === 5 ? 1 : 'all',
      }
      const path =
        i === 3 || i === 4 ? `/v1/topics/${topic}/partitions/2/records` : `/v1/topics/${topic}/records`
      const res = await mp(`${url}${path}`, 'POST', body)
      expect(res.status).toBe(200)
      requests++
    }
    const produced = sizes.reduce((a, b) => a + b, 0)
    const refused = await mp(`${url}/v1/topics/${topic}/partitions/9/records`, 'POST', {
      records: [{ value: 'x' }],
    })
    expect(refused.status).toBe(404)
    requests++

    let fetched = 0
    let fetches = 0
    const ends: number[] = []
    for (let p = 0; p < 4; p++) {
      const res = await mp(`${url}/v1/topics/${topic}/partitions/${p}/records?offset=0&maxWaitMs=0`, 'GET')
      fetches++
      fetched += res.body.records.length
      ends.push(res.body.highWatermark)
    }
    expect(fetched).toBe(produced)

    const after = await scrape(url)
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels)
    expect(delta('strata_produce_records_total', { topic })).toBe(produced)
    expect(delta('strata_produce_requests_total', { topic })).toBe(requests)
    expect(delta('strata_fetch_records_total', { topic })).toBe(produced)
    expect(delta('strata_fetch_requests_total', { topic })).toBe(fetches)
    expect(delta('strata_produce_records_total', { topic: other })).toBe(0)
    expect(delta('strata_produce_bytes_total', { topic })).toBeGreaterThan(produced * 61)
    expect(delta('strata_log_append_batches_total')).toBeGreaterThanOrEqual(sizes.length)
    // Every record was made durable by some fsync (acks=all waits for it; acks=1 is flushed soon after).
    await expect
      .poll(
        async () =>
          sample(await scrape(url), 'strata_fsync_records_total') -
          sample(before, 'strata_fsync_records_total'),
      )
      .toBe(produced)
    expect(delta('strata_fsyncs_total')).toBeGreaterThanOrEqual(1)
    expect(delta('strata_fsync_duration_seconds_count')).toBe(delta('strata_fsyncs_total'))
    expect(after.types.get('strata_fsync_duration_seconds')).toBe('histogram')
    for (let p = 0; p < 4; p++) {
      expect(sample(after, 'strata_partition_high_watermark', { topic, partition: String(p) })).toBe(ends[p])
      expect(sample(after, 'strata_partition_log_end_offset', { topic, partition: String(p) })).toBe(ends[p])
    }
    const route = '/v1/topics/:topic/records'
    expect(
      sample(after, 'strata_http_request_duration_seconds_count', {
        method: 'POST',
        route,
        status_code: '200',
      }),
    ).toBe(5)
    expect(after.types.get('process_resident_memory_bytes')).toBe('gauge')
    expect(after.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge')
    const workerLabels = workers === 0 ? ['main'] : ['0', '1']
    for (const worker of workerLabels)
      expect(after.samples.has(`strata_worker_queue_depth{worker="${worker}"}`)).toBe(true)
  })
})
