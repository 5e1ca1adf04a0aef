/**
 * The producer with several batches in flight per partition (the default), against a real broker
 * process: the requests really overlap (counted under the transport), every record lands once and
 * in send order, in one partition and spread over several; a request the broker refuses with a
 * retriable error (a disk alarm) while a later one of its partition arrives ends with both written
 * once, in order (the later one is refused as OUT_OF_ORDER_SEQUENCE and resent after it); and a
 * kill -9 of the broker while batches are in flight loses, duplicates and reorders nothing once it
 * is back on the same data directory: the in-flight batches are resent oldest first with their
 * producer id and sequence, and the broker answers those it had written with their offsets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { Admin } from '../../../src/client/admin.js'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Producer } from '../../../src/client/producer.js'
import {
  HttpTransport,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from '../../../src/client/transport.js'
import type { RecordOffset } from '../../../src/client/types.js'
import { type BrokerProcess, startBroker, tempDataDir } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'

/** Counts produce requests in flight at once, under the client. */
class CountingTransport implements Transport {
  readonly #inner = new HttpTransport()
  inFlight = 0
  maxInFlight = 0

  async request<T>(serverUrl: string, request: TransportRequest): Promise<TransportResponse<T>> {
    const produce = request.method === 'POST' && request.path.endsWith('/records')
    if (produce) this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight)
    try {
      return await this.#inner.request<T>(serverUrl, request)
    } finally {
      if (produce) this.inFlight--
    }
  }

  close(): Promise<void> {
    return this.#inner.close()
  }
}

/**
 * Lets the test decide when each produce request (numbered from 0 in the order the producer makes
 * them) goes on to the broker, and records how each was answered: `'ok'` or the error code.
 */
class GatedTransport implements Transport {
  readonly #inner = new HttpTransport()
  readonly #answered: Array<() => void> = []
  readonly answers: string[] = []
  readonly answeredPromises: Promise<void>[] = []
  /** Awaited before produce request `n` goes on. */
  gates = new Map<number, () => Promise<void>>()
  #count = 0

  /** Resolves once produce request `n` has its answer. */
  answered(n: number): Promise<void> {
    this.#slot(n)
    return this.answeredPromises[n] as Promise<void>
  }

  #slot(n: number): void {
    while (this.answeredPromises.length <= n) {
      const i = this.answeredPromises.length
      this.answeredPromises.push(new Promise<void>((resolve) => (this.#answered[i] = resolve)))
    }
  }

  async request<T>(serverUrl: string, request: TransportRequest): Promise<TransportResponse<T>> {
    if (!(request.method === 'POST' && request.path.endsWith('/records')))
      return this.#inner.request<T>(serverUrl, request)
    const n = this.#count++
    this.#slot(n)
    await this.gates.get(n)?.()
    try {
      const res = await this.#inner.request<T>(serverUrl, request)
      this.answers[n] = 'ok'
      return res
    } catch (err) {
      this.answers[n] = (err as { code?: string }).code ?? String(err)
      throw err
    } finally {
      this.#answered[n]?.()
    }
  }

  close(): Promise<void> {
    return this.#inner.close()
  }
}

let broker: BrokerProcess | undefined
let client: BrokerClient | undefined
/** A data directory the test made itself (a restarted broker does not remove it). */
let ownDataDir: string | undefined

afterEach(async () => {
  await client?.close()
  await broker?.stop()
  if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true })
  client = undefined
  broker = undefined
  ownDataDir = undefined
})

/** Sends `count` one-record sends of values 0…count−1, at most `window` unconfirmed at a time. */
async function sendAll(
  producer: Producer,
  topic: string,
  count: number,
  window: number,
  onConfirmed?: (confirmed: number) => void,
): Promise<Array<RecordOffset | Error>> {
  const results = new Array<RecordOffset | Error>(count)
  let next = 0
  let confirmed = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      try {
        const [offset] = await producer.send(topic, { value: i, partition: 0 })
        results[i] = offset as RecordOffset
      } catch (err) {
        results[i] = err as Error
      }
      onConfirmed?.(++confirmed)
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return results
}

async function readAll(topic: string, c: BrokerClient, partition = 0): Promise<unknown[]> {
  const values: unknown[] = []
  let offset = 0
  for (let round = 0; round < 1_000; round++) {
    const res = await c.fetch(topic, partition, { offset, maxRecords: 5_000 })
    for (const r of res.records) values.push(r.value)
    offset = res.nextOffset
    if (offset >= res.highWatermark) break
  }
  return values
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('several batches in flight per partition', () => {
  test('with the default settings requests overlap, and every record lands once, in send order, at the offset its send answered', async () => {
    broker = await startBroker()
    const transport = new CountingTransport()
    client = new BrokerClient({ urls: broker.url, transport })
    const topic = 'pipelined'
    await new Admin(client).createTopic(topic, { partitions: 1 })
    const producer = new Producer(client, { maxBatchRecords: 200 })
    const results = await sendAll(producer, topic, 6_000, 1_000)
    await producer.close()

    expect(transport.maxInFlight).toBeGreaterThan(1)
    expect(transport.maxInFlight).toBeLessThanOrEqual(5)
    expect(results.filter((r) => r instanceof Error)).toEqual([])
    expect(results.map((r) => (r as RecordOffset).offset)).toEqual(Array.from({ length: 6_000 }, (_, i) => i))
    expect(await readAll(topic, client)).toEqual(Array.from({ length: 6_000 }, (_, i) => i))
  }, 60_000)

  test('with the default settings, batches spread over partitions: each partition gets its records once, in send order', async () => {
    broker = await startBroker()
    const transport = new CountingTransport()
    client = new BrokerClient({ urls: broker.url, transport })
    const topic = 'pipelined-spread'
    await new Admin(client).createTopic(topic, { partitions: 3 })
    const producer = new Producer(client, { maxBatchRecords: 300 })
    const count = 6_000
    const sends = Array.from({ length: count }, (_, i) =>
      producer.send(topic, { value: i, partition: i % 3 }),
    )
    const results = await Promise.allSettled(sends)
    await producer.close()

    expect(transport.maxInFlight).toBeGreaterThan(3)
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    expect(results.map((r) => (r as PromiseFulfilledResult<RecordOffset[]>).value)).toEqual(
      Array.from({ length: count }, (_, i) => [{ partition: i % 3, offset: Math.floor(i / 3) }]),
    )
    for (const partition of [0, 1, 2]) {
      expect(await readAll(topic, client, partition)).toEqual(
        Array.from({ length: count / 3 }, (_, k) => 3 * k + partition),
      )
    }
  }, 60_000)

  test.each([
    ['the default maxInFlight', {}],
    ['maxInFlight 5', { maxInFlight: 5 }],
  ])(
    'with %s, a request refused by a disk alarm while a later one of its partition arrives: both are written once, in send order',
    async (_name, inFlight) => {
      const probeDir = mkdtempSync(join(tmpdir(), 'strata-diskprobe-'))
      const probe = join(probeDir, 'free-bytes')
      writeFileSync(probe, String(1024 * 1024 * 1024))
      try {
        broker = await startBroker({
          args: ['--alarm-check-interval-ms', '20'],
          env: { STRATA_TEST_HOOKS: '1', STRATA_TEST_DISK_FREE_FILE: probe },
        })
        const url = broker.url
        const transport = new GatedTransport()
        client = new BrokerClient({ urls: url, transport, retry: { initialDelayMs: 20, maxDelayMs: 200 } })
        const topic = 'pipelined-alarm'
        await new Admin(client).createTopic(topic, { partitions: 1 })
        const producer = new Producer(client, { maxBatchRecords: 10, ...inFlight })
        // Request 0: the warm-up, which makes the producer known to the partition.
        await producer.send(topic, { value: -1, partition: 0 })

        // Request 1 (send 0, alone) is written. Request 2 (sends 1–10) reaches the broker during a
        // disk alarm and is refused; request 3 (sends 11–20) reaches it once the alarm is over.
        transport.gates.set(2, async () => {
          await transport.answered(1)
          writeFileSync(probe, String(10 * 1024 * 1024))
          await until('the alarm', async () => (await json(`${url}/readyz`, 'GET')).status === 503)
        })
        transport.gates.set(3, async () => {
          await transport.answered(2)
          writeFileSync(probe, String(1024 * 1024 * 1024))
          await until('the alarm to clear', async () => (await json(`${url}/readyz`, 'GET')).status === 200)
        })
        const sends = Array.from({ length: 30 }, (_, i) => producer.send(topic, { value: i, partition: 0 }))
        const results = await Promise.allSettled(sends)
        await producer.close()

        // Request 3 is refused as out of order instead of written ahead of request 2; both are then
        // resent, in order (4 and 5), and the last sends follow (6).
        expect(transport.answers).toEqual([
          'ok',
          'ok',
          'DISK_ALARM',
          'OUT_OF_ORDER_SEQUENCE',
          'ok',
          'ok',
          'ok',
        ])
        expect(results).toEqual(
          Array.from({ length: 30 }, (_, i) => ({
            status: 'fulfilled',
            value: [{ partition: 0, offset: i + 1 }],
          })),
        )
        expect(await readAll(topic, client)).toEqual([-1, ...Array.from({ length: 30 }, (_, i) => i)])
      } finally {
        rmSync(probeDir, { recursive: true, force: true })
      }
    },
    60_000,
  )

  test('kill -9 of the broker with batches in flight: after the restart every send is confirmed once, in order', async () => {
    ownDataDir = tempDataDir()
    broker = await startBroker({ dataDir: ownDataDir })
    const transport = new CountingTransport()
    client = new BrokerClient({
      urls: broker.url,
      transport,
      retry: { initialDelayMs: 50, maxDelayMs: 500, maxAttempts: 100, maxElapsedMs: 60_000 },
    })
    const topic = 'pipelined-crash'
    await new Admin(client).createTopic(topic, { partitions: 1 })
    const producer = new Producer(client, { maxBatchRecords: 100, maxInFlight: 5 })
    let killed: Promise<void> | undefined
    const running = sendAll(producer, topic, 8_000, 1_000, (confirmed) => {
      if (confirmed !== 2_000 || killed) return
      const victim = broker as BrokerProcess
      killed = (async () => {
        await victim.kill('SIGKILL')
        broker = await victim.restart()
      })()
    })
    const results = await running
    await killed
    await producer.close()

    expect(killed).toBeDefined()
    expect(transport.maxInFlight).toBeGreaterThan(1)
    expect(results.filter((r) => r instanceof Error)).toEqual([])
    expect(results.map((r) => (r as RecordOffset).offset)).toEqual(Array.from({ length: 8_000 }, (_, i) => i))
    expect(await readAll(topic, client)).toEqual(Array.from({ length: 8_000 }, (_, i) => i))
  }, 120_000)
})
