/**
 * The producer with several batches in flight per partition, against a real broker process: the
 * requests really overlap (counted under the transport), every record lands once and in send order,
 * and a kill -9 of the broker while batches are in flight loses, duplicates and reorders nothing
 * once it is back on the same data directory: the in-flight batches are resent oldest first with
 * their producer id and sequence, and the broker answers those it had written with their offsets.
 */
import { rmSync } from 'node:fs'
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

async function readAll(topic: string, c: BrokerClient): Promise<unknown[]> {
  const values: unknown[] = []
  let offset = 0
  for (let round = 0; round < 1_000; round++) {
    const res = await c.fetch(topic, 0, { offset, maxRecords: 5_000 })
    for (const r of res.records) values.push(r.value)
    offset = res.nextOffset
    if (offset >= res.highWatermark) break
  }
  return values
}

describe('several batches in flight per partition', () => {
  test('requests overlap, and every record lands once, in send order, at the offset its send answered', async () => {
    broker = await startBroker()
    const transport = new CountingTransport()
    client = new BrokerClient({ urls: broker.url, transport })
    const topic = 'pipelined'
    await new Admin(client).createTopic(topic, { partitions: 1 })
    const producer = new Producer(client, { maxBatchRecords: 200, maxInFlight: 5 })
    const results = await sendAll(producer, topic, 6_000, 1_000)
    await producer.close()

    expect(transport.maxInFlight).toBeGreaterThan(1)
    expect(transport.maxInFlight).toBeLessThanOrEqual(5)
    expect(results.filter((r) => r instanceof Error)).toEqual([])
    expect(results.map((r) => (r as RecordOffset).offset)).toEqual(Array.from({ length: 6_000 }, (_, i) => i))
    expect(await readAll(topic, client)).toEqual(Array.from({ length: 6_000 }, (_, i) => i))
  }, 60_000)

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
