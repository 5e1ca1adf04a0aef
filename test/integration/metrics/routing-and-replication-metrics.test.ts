/**
 * The exchange, partition-size and replication metrics on a real single broker: routed and
 * unroutable counts per exchange move by exactly the records published, partition sizes equal the
 * segment files on disk, and the broker reports its partitions as fully in sync (one replica).
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MetricNames } from '../../../src/metrics/broker-metrics.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'
import { parsePromText, sample } from '../../unit/metrics/prom-text.js'

let broker: BrokerProcess
beforeAll(async () => {
  broker = await startBroker()
})
afterAll(async () => {
  await broker?.stop()
})

const scrape = async () => parsePromText(await (await fetch(`${broker.url}/metrics`)).text())

/** The bytes of a partition's `.log` segment files in the data directory (`<topic>/<partition>/`). */
function logBytesOnDisk(topic: string, partition: number): number {
  const dir = join(broker.dataDir, topic, String(partition))
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0)
}

describe('routing, size and replication metrics', () => {
  it('counts routed and unroutable records per exchange, partition bytes, ISR and replicas', async () => {
    const { url } = broker
    expect((await json(`${url}/v1/topics`, 'POST', { name: 'sized', partitions: 2 })).status).toBe(201)
    expect((await json(`${url}/v1/exchanges`, 'POST', { name: 'ex', type: 'direct' })).status).toBe(201)
    expect((await json(`${url}/v1/exchanges`, 'POST', { name: 'idle', type: 'fanout' })).status).toBe(201)
    expect(
      (await json(`${url}/v1/exchanges/ex/bindings`, 'POST', { topic: 'sized', bindingKey: 'hit' })).status,
    ).toBe(201)
    const published = await json(`${url}/v1/exchanges/ex/records`, 'POST', {
      records: [
        { routingKey: 'hit', value: 'a' },
        { routingKey: 'hit', value: 'b' },
        { routingKey: 'miss', value: 'c' },
      ],
    })
    expect(published.status).toBe(200)
    expect(
      (
        await json(`${url}/v1/topics/sized/partitions/1/records`, 'POST', {
          records: [{ value: 'x'.repeat(500) }],
        })
      ).status,
    ).toBe(200)

    const m = await scrape()
    expect(sample(m, MetricNames.exchangeRouted, { exchange: 'ex' })).toBe(2)
    expect(sample(m, MetricNames.exchangeUnroutable, { exchange: 'ex' })).toBe(1)
    expect(sample(m, MetricNames.exchangeRouted, { exchange: 'idle' })).toBe(0)
    for (const partition of [0, 1]) {
      const labels = { topic: 'sized', partition: String(partition) }
      expect(sample(m, MetricNames.partitionSizeBytes, labels)).toBe(logBytesOnDisk('sized', partition))
      expect(sample(m, MetricNames.partitionReplicas, labels)).toBe(1)
      expect(sample(m, MetricNames.partitionIsrSize, labels)).toBe(1)
    }
    expect(sample(m, MetricNames.partitionSizeBytes, { topic: 'sized', partition: '1' })).toBeGreaterThan(500)
    expect(sample(m, MetricNames.underReplicatedPartitions)).toBe(0)
    expect(sample(m, MetricNames.leaderElections)).toBe(0)
  })
})
