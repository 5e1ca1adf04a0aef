/**
 * The memory alarm on a real broker process measuring its real resident set: started with a high
 * watermark below its RSS (1 MiB), produce answers 503 MEMORY_ALARM with Retry-After, fetch returns
 * every record confirmed before, /readyz says why; restarted with the watermark raised, produce
 * works again and nothing confirmed was lost. (Clearing by itself while running is covered with
 * an injected probe in alarms.test.ts, and with a real filesystem in disk-alarm.test.ts.)
 */
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker, tempDataDir } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import { parsePromText, sample } from '../../unit/metrics/prom-text.js'

let broker: BrokerProcess | undefined
let dataDir: string | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('memory high watermark', () => {
  it('refuses produce above it, serves fetch, and takes writes again once raised', async () => {
    dataDir = tempDataDir()
    broker = await startBroker({ dataDir, args: ['--workers', '2'] })
    const topic = `mem-${process.pid}`
    expect((await json(`${broker.url}/v1/topics`, 'POST', { name: topic, partitions: 2 })).status).toBe(201)
    const first = await mp(`${broker.url}/v1/topics/${topic}/partitions/1/records`, 'POST', {
      records: ['a', 'b', 'c'].map((value) => ({ value })),
    })
    expect(first.body.offsets.map((o: { offset: number }) => o.offset)).toEqual([0, 1, 2])

    broker = await broker.restart(['--memory-high-watermark', String(1024 * 1024)])
    const refused = await mp(`${broker.url}/v1/topics/${topic}/partitions/1/records`, 'POST', {
      records: [{ value: 'refused' }],
    })
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('MEMORY_ALARM')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(refused.body.error.details.rssBytes).toBeGreaterThan(refused.body.error.details.limitBytes)
    const fetched = await mp(`${broker.url}/v1/topics/${topic}/partitions/1/records?offset=0`, 'GET')
    expect(fetched.status).toBe(200)
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['a', 'b', 'c'])
    const ready = await json(`${broker.url}/readyz`, 'GET')
    expect(ready.status).toBe(503)
    expect(ready.body.reasons.join(' ')).toContain('memory alarm')
    const metrics = parsePromText(await (await fetch(`${broker.url}/metrics`)).text())
    expect(sample(metrics, 'strata_alarm_active', { alarm: 'memory' })).toBe(1)
    expect(sample(metrics, 'strata_memory_high_watermark_bytes')).toBe(1024 * 1024)

    broker = await broker.restart(['--memory-high-watermark', '0.4'])
    const accepted = await mp(`${broker.url}/v1/topics/${topic}/partitions/1/records`, 'POST', {
      records: [{ value: 'd' }],
    })
    expect(accepted.status).toBe(200)
    expect(accepted.body.offsets).toEqual([{ partition: 1, offset: 3 }])
    const all = await mp(`${broker.url}/v1/topics/${topic}/partitions/1/records?offset=0`, 'GET')
    expect(all.body.records.map((r: { offset: number; value: string }) => [r.offset, r.value])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
      [3, 'd'],
    ])
    expect((await json(`${broker.url}/readyz`, 'GET')).status).toBe(200)
  })
})
