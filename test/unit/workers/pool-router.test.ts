/**
 * PoolRouter contract, against real piscina threads running the built worker
 * (dist/src/workers/partition-worker.js; `npm test` builds first):
 * - a partition always goes to the same worker, and a topic's partitions spread over the workers;
 * - appends land in order with dense offsets; batches and fetch bodies cross threads transferred;
 * - an idle worker's timers run (atomics disabled): an acks=1 write is flushed by the flush timer
 *   and its state event arrives with no further request;
 * - a worker that dies fails its in-flight requests with WORKER_FAILED (never a hang), is replaced,
 *   its partitions are recovered with every confirmed record, and the restart is counted.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WorkerFailedError } from '../../../src/errors.js'
import { buildBatch } from '../../../src/storage/index.js'
import { encodeRecordBody, wireUnpackr } from '../../../src/wire/record-codec.js'
import { PoolRouter, stableHash, workerIndexFor } from '../../../src/workers/pool-router.js'
import type { HostEvent, PartitionLogSettings } from '../../../src/workers/worker-messages.js'

const WORKER = resolve(import.meta.dirname, '../../../dist/src/workers/partition-worker.js')

const settings = (over: Partial<PartitionLogSettings> = {}): PartitionLogSettings => ({
  segmentBytes: 1024 * 1024,
  segmentMs: 7 * 24 * 3600_000,
  retentionMs: -1,
  retentionBytes: -1,
  indexIntervalBytes: 4096,
  flushIntervalMs: 0,
  flushMessages: 0,
  ...over,
})

const batchOf = (values: string[]) =>
  buildBatch({ records: values.map((value) => encodeRecordBody({ value }, Date.now())) })

let dir: string
let router: PoolRouter | undefined
const previousHooks = process.env.STRATA_TEST_HOOKS

beforeAll(() => {
  // Worker threads copy the environment when they start: the crash hook must be on before that.
  process.env.STRATA_TEST_HOOKS = '1'
})
afterAll(() => {
  if (previousHooks === undefined) delete process.env.STRATA_TEST_HOOKS
  else process.env.STRATA_TEST_HOOKS = previousHooks
})
afterEach(async () => {
  await router?.close()
  router = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function openPartitions(
  r: PoolRouter,
  topic: string,
  count: number,
  over: Partial<PartitionLogSettings> = {},
) {
  dir = mkdtempSync(join(tmpdir(), 'strata-pool-'))
  for (let p = 0; p < count; p++) {
    await r.request({
      op: 'open',
      topic,
      partition: p,
      dir: join(dir, topic, String(p)),
      settings: settings(over),
    })
  }
}

async function readValues(r: PoolRouter, topic: string, partition: number) {
  const res = await r.request({
    op: 'fetch',
    topic,
    partition,
    offset: 0,
    maxRecords: 100_000,
    maxBytes: 64 * 1024 * 1024,
    format: 'partition',
  })
  expect(Buffer.isBuffer(res.body)).toBe(true)
  const body = wireUnpackr.unpack(res.body) as { records: Array<{ offset: number; value: string }> }
  return body.records
}

describe('partition placement', () => {
  it('is stable and spreads a topic’s partitions round-robin over the workers', () => {
    expect(stableHash('orders')).toBe(stableHash('orders'))
    const workers = Array.from({ length: 8 }, (_, p) => workerIndexFor('orders', p, 2))
    expect(workers.filter((w) => w === 0)).toHaveLength(4)
    expect(workers.filter((w) => w === 1)).toHaveLength(4)
    expect(workerIndexFor('orders', 3, 2)).toBe(workers[3])
  })
})

describe('PoolRouter with 2 workers', () => {
  it('appends in order with dense offsets per partition and transfers batches', async () => {
    router = await PoolRouter.start({ workers: 2, filename: WORKER })
    const r = router
    await openPartitions(r, 'dense', 8)
    const confirmed = new Map<number, Array<{ offset: number; value: string }>>()
    await Promise.all(
      Array.from({ length: 8 }, async (_, p) => {
        for (let i = 0; i < 20; i++) {
          const values = [`p${p}-${i}-a`, `p${p}-${i}-b`, `p${p}-${i}-c`]
          const batch = batchOf(values)
          const result = await r.request({ op: 'append', topic: 'dense', partition: p, batch, acks: 'all' })
          // Transferred, not copied: the sender's view of the bytes is detached.
          expect(batch.byteLength).toBe(0)
          expect(result.durability).toBe('fsynced')
          const list = confirmed.get(p) ?? []
          values.forEach((value, k) => {
            list.push({ offset: result.baseOffset + k, value })
          })
          confirmed.set(p, list)
        }
      }),
    )
    for (let p = 0; p < 8; p++) {
      const records = await readValues(r, 'dense', p)
      expect(records.map((rec) => rec.offset)).toEqual(Array.from({ length: 60 }, (_, i) => i))
      expect(records.map((rec) => rec.value)).toEqual(confirmed.get(p)?.map((c) => c.value))
    }
    const stats = await r.stats()
    expect(stats).toHaveLength(2)
    expect(stats.reduce((n, s) => n + s.appendRecords, 0)).toBe(8 * 60)
    expect(stats.map((s) => s.partitions)).toEqual([4, 4])
    expect(r.load().map((l) => l.partitions)).toEqual([4, 4])
  })

  it('keeps an idle worker’s flush timer running: an acks=1 write becomes durable on its own', async () => {
    router = await PoolRouter.start({ workers: 2, filename: WORKER })
    const r = router
    const events: HostEvent[] = []
    r.onEvent((e) => events.push(e))
    await openPartitions(r, 'timer', 1, { flushIntervalMs: 50 })
    const result = await r.request({
      op: 'append',
      topic: 'timer',
      partition: 0,
      batch: batchOf(['x']),
      acks: 1,
    })
    expect(result.durability).toBe('written')
    // No further request: only the worker's own timer can flush and report the new high watermark.
    const deadline = Date.now() + 5000
    while (
      !events.some((e) => e.state.topic === 'timer' && e.state.highWatermark === 1) &&
      Date.now() < deadline
    ) {
      await new Promise((res) => setTimeout(res, 20))
    }
    expect(events.some((e) => e.state.highWatermark === 1)).toBe(true)
  })

  for (const how of ['throw', 'exit'] as const) {
    it(`recovers a worker that dies (${how}): in-flight requests fail, confirmed records survive`, async () => {
      const logged: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = []
      const log = (level: string) => (obj: object, msg: string) => {
        logged.push({ level, msg, obj: obj as Record<string, unknown> })
      }
      router = await PoolRouter.start({
        workers: 2,
        filename: WORKER,
        logger: { error: log('error'), warn: log('warn'), info: log('info') },
      })
      const r = router
      await openPartitions(r, 'crash', 4)
      const onWorker0 = [0, 1, 2, 3].filter((p) => r.workerFor('crash', p) === 0)
      const confirmed = new Map<number, string[]>()
      const append = async (p: number, value: string) => {
        const res = await r.request({
          op: 'append',
          topic: 'crash',
          partition: p,
          batch: batchOf([value]),
          acks: 'all',
        })
        const list = confirmed.get(p) ?? []
        list[res.baseOffset] = value
        confirmed.set(p, list)
      }
      for (const p of onWorker0) for (let i = 0; i < 5; i++) await append(p, `before-${p}-${i}`)

      // Dies right after the next append is written, so requests are surely in flight.
      await r.crashWorker(0, how, 'next-append')
      const inflight = onWorker0.flatMap((p) =>
        Array.from({ length: 20 }, (_, i) => append(p, `during-${p}-${i}`)),
      )
      const settled = await Promise.allSettled(inflight)
      for (const s of settled) {
        if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(WorkerFailedError)
      }
      expect(settled.some((s) => s.status === 'rejected')).toBe(true)

      // The replacement serves again, with every confirmed record in place and offsets dense.
      for (const p of onWorker0) await append(p, `after-${p}`)
      expect(r.load()[0]?.restarts).toBe(1)
      const died = logged.find((l) => l.msg.startsWith('partition worker died'))
      expect(died?.level).toBe('error')
      expect(died?.obj).toMatchObject({ worker: 0, restarts: 1 })
      expect(String((died?.obj.err as Error | undefined)?.message)).toMatch(
        /crashed on purpose|exited with code/,
      )
      expect(logged.some((l) => l.msg === 'partition worker restarted' && l.obj.failed === 0)).toBe(true)
      expect(r.load()[1]?.restarts).toBe(0)
      for (const p of onWorker0) {
        const records = await readValues(r, 'crash', p)
        expect(records.map((rec) => rec.offset)).toEqual(records.map((_, i) => i))
        const byOffset = new Map(records.map((rec) => [rec.offset, rec.value]))
        confirmed.get(p)?.forEach((value, offset) => {
          expect(byOffset.get(offset)).toBe(value)
        })
      }
    })
  }

  it('answers requests sent in the turn it closes before shutting the thread down, and keeps what it confirmed', async () => {
    router = await PoolRouter.start({ workers: 1, filename: WORKER })
    const r = router
    await openPartitions(r, 'closing', 1)
    // Queued in this turn, so they travel in the same turn as the shutdown.
    const appends = Array.from({ length: 10 }, (_, i) =>
      r.request({ op: 'append', topic: 'closing', partition: 0, batch: batchOf([`v${i}`]), acks: 'all' }),
    )
    const settling = Promise.allSettled(appends)
    await r.close()
    const settled = await settling
    const confirmed: string[] = []
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') confirmed[s.value.baseOffset] = `v${i}`
      // Retriable, never "partition not open": the partition was open when the request was sent.
      else expect(s.reason).toBeInstanceOf(WorkerFailedError)
    })
    router = await PoolRouter.start({ workers: 1, filename: WORKER })
    await router.request({
      op: 'open',
      topic: 'closing',
      partition: 0,
      dir: join(dir, 'closing', '0'),
      settings: settings(),
    })
    const records = await readValues(router, 'closing', 0)
    expect(records.map((rec) => rec.value)).toEqual(confirmed)
  })
})
