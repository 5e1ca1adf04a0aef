/**
 * Issue 11 (hardening), broker lifecycle: the data directory's lock, bounded partitions and atomic
 * topic creation, and no 404 for existing topics while the broker is still loading them.
 * Every test runs real broker processes on real data directories.
 */
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker, tempDataDir } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'

const running: BrokerProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const broker of running.splice(0)) await broker.stop()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function start(dataDir: string, args: string[] = [], port = 0): Promise<BrokerProcess> {
  const broker = await startBroker({ dataDir, args }, port)
  running.push(broker)
  return broker
}

/** Starts a broker expected to fail; answers its exit code and stderr. */
async function startFailing(
  dataDir: string,
  args: string[] = [],
  port = 0,
): Promise<{ code: number; stderr: string }> {
  const outcome = await startBroker({ dataDir, args }, port).then(
    (broker) => {
      running.push(broker)
      return undefined
    },
    (err: Error) => err.message,
  )
  if (outcome === undefined) throw new Error('the broker started; it was expected to fail')
  const m = /^broker exited with (\S+) before serving\n([\s\S]*)$/.exec(outcome)
  if (!m) throw new Error(`unexpected start failure: ${outcome}`)
  return { code: Number(m[1]), stderr: m[2] as string }
}

/** Appends one record to partition 0; answers its offset. */
async function produce(url: string, topic: string, value: string): Promise<number> {
  const res = await json(`${url}/v1/topics/${topic}/records`, 'POST', { records: [{ value, partition: 0 }] })
  expect(res.status).toBe(200)
  return res.body.offsets[0].offset
}

async function readValues(url: string, topic: string): Promise<unknown[]> {
  const res = await json(`${url}/v1/topics/${topic}/partitions/0/records?offset=0&maxRecords=1000`, 'GET')
  expect(res.status).toBe(200)
  return res.body.records.map((r: { value: unknown }) => r.value)
}

describe('item 1: data-directory lock', () => {
  it('item 1: a second broker on a locked data dir exits non-zero naming the dir and holder pid; a kill -9 lock does not block the next start', async () => {
    const dataDir = tempDataDir()
    dirs.push(dataDir)
    const a = await start(dataDir)
    expect((await json(`${a.url}/v1/topics`, 'POST', { name: 'locked', partitions: 1 })).status).toBe(201)
    expect(await produce(a.url, 'locked', 'from-a-0')).toBe(0)

    const b = await startFailing(dataDir)
    expect(b.code).not.toBe(0)
    expect(b.stderr).toContain(dataDir)
    expect(b.stderr).toContain(`pid ${a.pid}`)

    // A still serves, and nobody else wrote to its log.
    expect(await produce(a.url, 'locked', 'from-a-1')).toBe(1)
    expect(await readValues(a.url, 'locked')).toEqual(['from-a-0', 'from-a-1'])

    await a.kill('SIGKILL')
    const c = await start(dataDir)
    expect(await readValues(c.url, 'locked')).toEqual(['from-a-0', 'from-a-1'])
    expect(await produce(c.url, 'locked', 'from-c')).toBe(2)
  })
})

/** One answer seen while polling a starting broker: status, error code, Retry-After, offsets. */
interface Seen {
  route: 'describe' | 'fetch'
  status: number
  code?: string
  retryAfter: string | null
  logEndOffset?: number
  records?: number
}

describe('item 11: no 404 while starting', () => {
  it('item 11: existing topics answer only 503 NOT_READY with Retry-After, then 200, from the moment the port opens', async () => {
    const dataDir = tempDataDir()
    dirs.push(dataDir)
    const topics = Array.from({ length: 120 }, (_, i) => `loading-${i}`)
    const first = await start(dataDir)
    for (let i = 0; i < topics.length; i += 10) {
      await Promise.all(
        topics.slice(i, i + 10).map(async (name) => {
          expect((await json(`${first.url}/v1/topics`, 'POST', { name, partitions: 4 })).status).toBe(201)
          expect(await produce(first.url, name, `only-${name}`)).toBe(0)
        }),
      )
    }
    const port = first.port
    await first.stop()
    running.splice(running.indexOf(first), 1)

    // Poll from before the process exists: every answer it gives on the port is recorded.
    const base = `http://127.0.0.1:${port}`
    const seen: Seen[] = []
    let started = false
    const poller = async (offset: number) => {
      let settled = 0
      for (let i = 0; i < 50_000 && settled < 20; i++) {
        const topic = topics[(i * 7 + offset) % topics.length] as string
        const route = i % 2 === 0 ? 'describe' : 'fetch'
        const path =
          route === 'describe'
            ? `/v1/topics/${topic}`
            : `/v1/topics/${topic}/partitions/0/records?offset=0&maxRecords=10`
        const res = await json(`${base}${path}`, 'GET').catch(() => undefined)
        if (res === undefined) {
          if (started) throw new Error('the broker stopped answering after it started')
          await new Promise((r) => setTimeout(r, 2))
          continue
        }
        seen.push({
          route,
          status: res.status,
          code: res.body?.error?.code,
          retryAfter: res.headers.get('retry-after'),
          logEndOffset: route === 'describe' ? res.body?.partitions?.[0]?.logEndOffset : undefined,
          records: route === 'fetch' ? res.body?.records?.length : undefined,
        })
        if (started && res.status === 200) settled++
      }
    }
    const pollers = [0, 1, 2, 3].map((k) => poller(k * 30))
    const second = await start(dataDir, [], port)
    started = true
    await Promise.all(pollers)

    for (const answer of seen) {
      if (answer.status === 200) {
        if (answer.route === 'describe') expect(answer.logEndOffset).toBe(1)
        else expect(answer.records).toBe(1)
      } else {
        expect(answer).toMatchObject({
          status: 503,
          code: 'NOT_READY',
          retryAfter: expect.stringMatching(/^\d+$/),
        })
      }
    }
    expect(seen.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(80)
    expect((await json(`${second.url}/readyz`, 'GET')).status).toBe(200)
  }, 180_000)
})
