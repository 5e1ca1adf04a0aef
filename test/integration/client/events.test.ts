/**
 * Against a real broker process: a client whose broker is killed says so at once (`disconnect`,
 * then a `retry` per attempt, each also written to the logger) instead of going quiet until its
 * retry budget runs out, and says `connect` again when the broker is back on the same port.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import type { ClientLogger } from '../../../src/client/events.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'

let broker: BrokerProcess

beforeAll(async () => {
  broker = await startBroker()
})

afterAll(async () => {
  await broker?.stop()
  // The restarted process was given the directory, so its stop() leaves it: remove it here.
  if (broker) rmSync(broker.dataDir, { recursive: true, force: true })
})

test('a killed broker shows as disconnect and retries, its return as connect', async () => {
  const lines: string[] = []
  const log = (level: string) => (message: string) => void lines.push(`${level} ${message}`)
  const logger: ClientLogger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  }
  const client = new BrokerClient({
    urls: broker.url,
    logger,
    retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 },
  })
  const events: string[] = []
  client.on('connect', () => void events.push('connect'))
  client.on('disconnect', () => void events.push('disconnect'))
  client.on('retry', ({ attempt, method, path }) => void events.push(`retry ${attempt} ${method} ${path}`))
  try {
    await client.listTopics()
    await broker.kill('SIGKILL')
    await expect(client.listTopics()).rejects.toMatchObject({ code: 'BROKER_UNREACHABLE' })
    expect(events).toEqual(['connect', 'disconnect', 'retry 1 GET /v1/topics', 'retry 2 GET /v1/topics'])

    broker = await broker.restart()
    expect(await client.listTopics()).toEqual([])
    expect(events.at(-1)).toBe('connect')
    expect(lines.slice(0, 4)).toEqual([
      `info connected to broker ${broker.url}`,
      `warn broker ${broker.url} unreachable`,
      'warn retrying GET /v1/topics',
      'warn retrying GET /v1/topics',
    ])
  } finally {
    await client.close()
  }
})
