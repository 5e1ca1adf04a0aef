/**
 * Resource alarms and the in-flight bound, on an in-process broker whose resource probes the test
 * drives (the alarms' own timer reads them, every 20 ms):
 * - past the memory high watermark or under the disk free limit, produce answers 503 MEMORY_ALARM /
 *   DISK_ALARM with Retry-After and writes nothing; fetch, offsets and topic admin keep working;
 *   internal topics (`__*`, committed offsets) are not blocked; /readyz is 503 with the reason;
 *   the alarm gauge and the refused counter show it; writes resume by themselves once it clears;
 * - produce bytes in flight to one partition past maxInflightBytesPerPartition answer 429
 *   THROTTLED with Retry-After, write nothing, and every confirmed record is in the log.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../../src/config/load-config.js'
import { type RunningBroker, startBroker } from '../../../src/server/start-broker.js'
import { parsePromText, sample } from '../../unit/metrics/prom-text.js'

// The console page is read from the package layout of dist/; it is not under test here.
vi.mock('../../../src/server/routes/console.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/server/routes/console.js')>()),
  consoleRoutes: async () => {},
}))

const MiB = 1024 * 1024

let running: RunningBroker | undefined
let dir: string | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

interface Probes {
  rss: number
  free: number
}

async function start(args: string[] = [], probes: Probes = { rss: 100 * MiB, free: 10_000 * MiB }) {
  dir = mkdtempSync(join(tmpdir(), 'strata-alarms-'))
  const { config } = loadConfig(
    [
      '--port',
      '0',
      '--data-dir',
      dir,
      '--alarm-check-interval-ms',
      '20',
      '--memory-high-watermark',
      '0.4',
      ...args,
    ],
    {},
  )
  running = await startBroker(config, {
    logger: false,
    alarmProbes: {
      rssBytes: () => probes.rss,
      totalMemoryBytes: () => 1000 * MiB,
      freeDiskBytes: async () => probes.free,
    },
  })
  return { app: running.app, broker: running.broker }
}

type App = RunningBroker['app']

async function call(app: App, method: 'GET' | 'POST', url: string, body?: unknown) {
  const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) })
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers }
}

const produce = (app: App, topic: string, values: string[], partition = 0) =>
  call(app, 'POST', `/v1/topics/${topic}/partitions/${partition}/records`, {
    records: values.map((value) => ({ value })),
  })

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function metric(app: App, name: string, labels: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  return sample(parsePromText(res.body), name, labels)
}

const cases = [
  {
    alarm: 'memory',
    code: 'MEMORY_ALARM',
    raise: (p: Probes) => {
      p.rss = 500 * MiB // above 0.4 × 1000 MiB
    },
    clear: (p: Probes) => {
      p.rss = 300 * MiB
    },
  },
  {
    alarm: 'disk',
    code: 'DISK_ALARM',
    raise: (p: Probes) => {
      p.free = 100 * MiB // below the 256 MiB default floor
    },
    clear: (p: Probes) => {
      p.free = 300 * MiB
    },
  },
] as const

describe.each(cases)('$alarm alarm', ({ alarm, code, raise, clear }) => {
  it('blocks produce with 503 and Retry-After, keeps reads working, and lifts by itself', async () => {
    const probes: Probes = { rss: 100 * MiB, free: 10_000 * MiB }
    const { app, broker } = await start([], probes)
    expect((await call(app, 'POST', '/v1/topics', { name: 'orders', partitions: 1 })).status).toBe(201)
    expect((await produce(app, 'orders', ['a', 'b'])).status).toBe(200)

    raise(probes)
    await until('the alarm', async () => (await call(app, 'GET', '/readyz')).status === 503)
    const refused = await produce(app, 'orders', ['blocked'])
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe(code)
    expect(refused.headers['retry-after']).toBe('1')
    const keyed = await call(app, 'POST', '/v1/topics/orders/records', {
      records: [{ key: 'k', value: 'v' }],
    })
    expect(keyed.body.error.code).toBe(code)

    // Reads and admin keep working; internal topics (committed offsets) are not blocked.
    const fetched = await call(app, 'GET', '/v1/topics/orders/partitions/0/records?offset=0')
    expect(fetched.status).toBe(200)
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['a', 'b'])
    expect((await call(app, 'GET', '/v1/topics/orders/partitions/0/offsets?at=latest')).body.offset).toBe(2)
    expect((await call(app, 'POST', '/v1/topics', { name: 'more', partitions: 1 })).status).toBe(201)
    await broker.createTopic({ name: '__alarm_internal', partitions: 1, internal: true })
    expect(
      (await broker.produce('__alarm_internal', [{ value: 'commit' }], { acks: 'all' })).offsets,
    ).toHaveLength(1)

    const ready = await call(app, 'GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.body.reasons.join(' ')).toContain(`${alarm} alarm`)
    expect(await metric(app, 'strata_alarm_active', { alarm })).toBe(1)
    expect(await metric(app, 'strata_produce_refused_total', { reason: alarm })).toBeGreaterThanOrEqual(2)

    clear(probes)
    await until('writes to resume', async () => (await produce(app, 'orders', ['c'])).status === 200)
    expect((await call(app, 'GET', '/readyz')).status).toBe(200)
    expect(await metric(app, 'strata_alarm_active', { alarm })).toBe(0)
    // The refused requests wrote nothing: the log holds exactly the accepted records.
    const after = await call(app, 'GET', '/v1/topics/orders/partitions/0/records?offset=0')
    expect(after.body.records.map((r: { value: string; offset: number }) => [r.offset, r.value])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ])
  })
})

describe('in-flight produce bytes per partition', () => {
  it('answers 429 THROTTLED past the bound, writes nothing for it, and keeps every confirmed record', async () => {
    const { app } = await start(['--max-inflight-bytes-per-partition', '1024'])
    expect((await call(app, 'POST', '/v1/topics', { name: 'slow', partitions: 2 })).status).toBe(201)
    const big = (tag: string) => Array.from({ length: 4 }, (_, k) => `${tag}-${k}-${'x'.repeat(500)}`)
    const sent = Array.from({ length: 30 }, (_, i) => big(`r${i}`))
    const answers = await Promise.all(sent.map((values) => produce(app, 'slow', values)))

    const throttled = answers.filter((a) => a.status === 429)
    const ok = answers.filter((a) => a.status === 200)
    expect(throttled.length).toBeGreaterThan(0)
    expect(ok.length).toBeGreaterThan(0)
    expect(ok.length + throttled.length).toBe(sent.length)
    for (const t of throttled) {
      expect(t.body.error.code).toBe('THROTTLED')
      expect(t.headers['retry-after']).toBe('1')
    }
    // Another partition is not throttled by this one's bytes.
    expect((await produce(app, 'slow', ['other'], 1)).status).toBe(200)

    const log = await call(
      app,
      'GET',
      '/v1/topics/slow/partitions/0/records?offset=0&maxRecords=1000&maxBytes=10000000',
    )
    const byOffset = new Map(
      log.body.records.map((r: { offset: number; value: string }) => [r.offset, r.value]),
    )
    expect(log.body.records).toHaveLength(ok.length * 4)
    answers.forEach((a, i) => {
      if (a.status !== 200) return
      a.body.offsets.forEach((o: { offset: number }, k: number) => {
        expect(byOffset.get(o.offset)).toBe(sent[i]?.[k])
      })
    })
    expect(await metric(app, 'strata_produce_refused_total', { reason: 'throttled' })).toBe(throttled.length)
  })
})
