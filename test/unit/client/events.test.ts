/**
 * The client is not silent: against the fake broker, a dead first URL shows up as `disconnect`,
 * the answering one as `connect`, a retried request as `retry` (with attempt and error), a
 * consumer's join and rebalance as events, and all of it also reaches a `logger`. A listener or
 * logger that throws changes nothing the client does.
 */
import { afterEach, beforeEach, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer } from '../../../src/client/consumer.js'
import type { ClientLogger } from '../../../src/client/events.js'
import { cutBeforeWrite, deadUrl, FakeBroker } from './fake-broker.js'

let broker: FakeBroker

beforeEach(async () => {
  broker = new FakeBroker()
  await broker.start()
})

afterEach(async () => {
  await broker.stop()
})

function recordingLogger(): ClientLogger & { lines: string[] } {
  const lines: string[] = []
  const at = (level: string) => (message: string) => void lines.push(`${level} ${message}`)
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

test('disconnect, retry and connect are emitted and logged as a dead broker is passed over', async () => {
  const down = await deadUrl()
  const logger = recordingLogger()
  const client = new BrokerClient({ urls: [down, broker.url], retry: { initialDelayMs: 5 }, logger })
  const seen: string[] = []
  client.on('disconnect', ({ url }) => void seen.push(`disconnect ${url}`))
  client.on('connect', ({ url }) => void seen.push(`connect ${url}`))
  client.on('retry', ({ url, attempt, path, error }) =>
    seen.push(`retry ${attempt} ${path} after ${(error as { code: string }).code} from ${url}`),
  )
  try {
    await client.listTopics()
    await client.listTopics()
    expect(seen).toEqual([
      `disconnect ${down}`,
      `retry 1 /v1/topics after BROKER_UNREACHABLE from ${down}`,
      `connect ${broker.url}`,
    ])
    expect(logger.lines).toEqual([
      `warn broker ${down} unreachable`,
      'warn retrying GET /v1/topics',
      `info connected to broker ${broker.url}`,
    ])
  } finally {
    await client.close()
  }
})

test('a broker that comes back after failing is connected again', async () => {
  const client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 5 } })
  const seen: string[] = []
  client.on('disconnect', () => void seen.push('disconnect'))
  client.on('connect', () => void seen.push('connect'))
  client.on('retry', ({ attempt }) => void seen.push(`retry ${attempt}`))
  try {
    await client.health()
    broker.inject('GET', /^\/v1\/topics$/, cutBeforeWrite)
    await client.listTopics()
    expect(seen).toEqual(['connect', 'disconnect', 'retry 1', 'connect'])
  } finally {
    await client.close()
  }
})

test('a throwing listener or logger does not stop a retry', async () => {
  const throwing = () => {
    throw new Error('listener bug')
  }
  const logger = { debug: throwing, info: throwing, warn: throwing, error: throwing }
  const client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 5 }, logger })
  client.on('retry', throwing)
  client.on('disconnect', throwing)
  try {
    broker.inject('GET', /^\/v1\/topics$/, cutBeforeWrite)
    broker.createTopic('t')
    expect((await client.listTopics()).map((t) => t.name)).toEqual(['t'])
  } finally {
    await client.close()
  }
})

test('a consumer emits join, then rebalance when a second member takes a partition', async () => {
  broker.createTopic('t', 2)
  const client = new BrokerClient({ urls: broker.url, retry: { initialDelayMs: 5 } })
  const first = new Consumer(client, { group: 'g', topics: 't', heartbeatIntervalMs: 100, maxWaitMs: 20 })
  const events: unknown[] = []
  first.on('join', (e) => void events.push({ join: e }))
  first.on('rebalance', (e) => void events.push({ rebalance: e }))
  const second = new Consumer(client, { group: 'g', topics: 't', maxWaitMs: 20 })
  try {
    await first.connect()
    await second.connect()
    const deadline = Date.now() + 5_000
    while (events.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(events).toEqual([
      {
        join: {
          memberId: first.memberId,
          generation: 1,
          assignments: [
            { topic: 't', partition: 0 },
            { topic: 't', partition: 1 },
          ],
        },
      },
      {
        rebalance: {
          generation: 1,
          assigned: [
            { topic: 't', partition: 0 },
            { topic: 't', partition: 1 },
          ],
          revoked: [],
        },
      },
      { rebalance: { generation: 2, assigned: [], revoked: [{ topic: 't', partition: 1 }] } },
    ])
  } finally {
    await first.close()
    await second.close()
    await client.close()
  }
})
