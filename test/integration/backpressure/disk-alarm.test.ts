/**
 * The disk alarm on a real broker process. With root, on a real 24 MiB tmpfs mounted for the test
 * and a 16 MiB free-space floor: producing fills it until produce answers 503 DISK_ALARM with
 * Retry-After; fetch returns every confirmed record; deleting another topic frees space and writes
 * resume by themselves; nothing confirmed is lost, offsets stay dense. Without mount rights the
 * same contract runs with the free-space probe injected through a file (STRATA_TEST_HOOKS=1).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'

const MiB = 1024 * 1024

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  broker = undefined
})

/** Mounted while the file is collected, so `skipIf` knows whether the real-filesystem test can run. */
function mountTmpfs(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
}
const mountDir = mountTmpfs()
afterAll(() => {
  if (!mountDir) return
  execFileSync('umount', [mountDir], { stdio: 'ignore' })
  rmSync(mountDir, { recursive: true, force: true })
})

async function readAll(url: string, topic: string) {
  const out: Array<{ offset: number; value: string }> = []
  let offset = 0
  for (;;) {
    const res = await mp(
      `${url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxRecords=1000`,
      'GET',
    )
    expect(res.status).toBe(200)
    if (res.body.records.length === 0) return out
    out.push(...res.body.records)
    offset = res.body.nextOffset
  }
}

/** 100 records of `size` bytes each, tagged so every record is recognisable. */
const records = (tag: string, size: number) =>
  Array.from({ length: 100 }, (_, k) => ({ value: `${tag}-${k}-`.padEnd(size, 'x') }))

async function produce(url: string, topic: string, body: { records: Array<{ value: string }> }) {
  return mp(`${url}/v1/topics/${topic}/partitions/0/records`, 'POST', body)
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

function expectConfirmedKept(log: Array<{ offset: number; value: string }>, confirmed: Map<number, string>) {
  expect(log.map((r) => r.offset)).toEqual(log.map((_, i) => i))
  const byOffset = new Map(log.map((r) => [r.offset, r.value]))
  for (const [offset, value] of confirmed) expect(byOffset.get(offset)).toBe(value)
}

describe('disk free limit', () => {
  it.skipIf(mountDir === undefined)(
    'on a full tmpfs: refuses produce, serves fetch, resumes when space frees',
    async () => {
      const dataDir = join(mountDir as string, 'data')
      mkdirSync(dataDir)
      broker = await startBroker({
        dataDir,
        args: ['--disk-free-limit', String(16 * MiB), '--alarm-check-interval-ms', '50', '--workers', '2'],
      })
      const { url } = broker
      expect((await json(`${url}/v1/topics`, 'POST', { name: 'filler', partitions: 1 })).status).toBe(201)
      expect((await json(`${url}/v1/topics`, 'POST', { name: 'keep', partitions: 1 })).status).toBe(201)
      for (let i = 0; i < 5; i++)
        expect((await produce(url, 'filler', { records: records(`f${i}`, 10_000) })).status).toBe(200)

      const confirmed = new Map<number, string>()
      let refused: Awaited<ReturnType<typeof produce>> | undefined
      for (let i = 0; i < 40 && !refused; i++) {
        const body = { records: records(`k${i}`, 5_000) }
        const res = await produce(url, 'keep', body)
        if (res.status === 200) {
          res.body.offsets.forEach((o: { offset: number }, k: number) => {
            confirmed.set(o.offset, body.records[k]?.value as string)
          })
        } else {
          refused = res
        }
      }
      expect(refused?.status).toBe(503)
      expect(refused?.body.error.code).toBe('DISK_ALARM')
      expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(confirmed.size).toBeGreaterThan(0)
      expectConfirmedKept(await readAll(url, 'keep'), confirmed)
      const ready = await json(`${url}/readyz`, 'GET')
      expect(ready.status).toBe(503)
      expect(ready.body.reasons.join(' ')).toContain('disk alarm')

      // Deleting a topic frees its segments: the next check clears the alarm with no one's help.
      expect((await json(`${url}/v1/topics/filler`, 'DELETE')).status).toBe(204)
      const body = { records: records('after', 100) }
      let after: Awaited<ReturnType<typeof produce>> | undefined
      await until('writes to resume', async () => {
        after = await produce(url, 'keep', body)
        return after.status === 200
      })
      after?.body.offsets.forEach((o: { offset: number }, k: number) => {
        confirmed.set(o.offset, body.records[k]?.value as string)
      })
      expectConfirmedKept(await readAll(url, 'keep'), confirmed)
      expect((await json(`${url}/readyz`, 'GET')).status).toBe(200)
    },
  )

  it('with an injected free-space probe: the same contract', async () => {
    const probeDir = mkdtempSync(join(tmpdir(), 'strata-diskprobe-'))
    const probe = join(probeDir, 'free-bytes')
    writeFileSync(probe, String(1024 * MiB))
    try {
      broker = await startBroker({
        args: ['--alarm-check-interval-ms', '20'],
        env: { STRATA_TEST_HOOKS: '1', STRATA_TEST_DISK_FREE_FILE: probe },
      })
      const { url } = broker
      expect((await json(`${url}/v1/topics`, 'POST', { name: 'keep', partitions: 1 })).status).toBe(201)
      const confirmed = new Map<number, string>()
      const accept = async (tag: string) => {
        const body = { records: records(tag, 50) }
        const res = await produce(url, 'keep', body)
        expect(res.status).toBe(200)
        res.body.offsets.forEach((o: { offset: number }, k: number) => {
          confirmed.set(o.offset, body.records[k]?.value as string)
        })
      }
      await accept('before')

      writeFileSync(probe, String(10 * MiB)) // below the 256 MiB default floor
      await until('the alarm', async () => (await json(`${url}/readyz`, 'GET')).status === 503)
      const refused = await produce(url, 'keep', { records: records('refused', 50) })
      expect(refused.status).toBe(503)
      expect(refused.body.error.code).toBe('DISK_ALARM')
      expect(refused.headers.get('retry-after')).toBe('1')
      expectConfirmedKept(await readAll(url, 'keep'), confirmed)

      writeFileSync(probe, String(1024 * MiB))
      await until('the alarm to clear', async () => (await json(`${url}/readyz`, 'GET')).status === 200)
      await accept('after')
      const log = await readAll(url, 'keep')
      expect(log).toHaveLength(200)
      expectConfirmedKept(log, confirmed)
    } finally {
      rmSync(probeDir, { recursive: true, force: true })
    }
  })
})
