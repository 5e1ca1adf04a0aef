/**
 * Crash state between two metadata files: a topic's deletion is written, then the broker dies
 * before <data-dir>/__metadata/exchanges.json drops the topic's bindings. The exchanges file then
 * names a topic that does not exist; `ExchangeStore.dropMissingTopics()` forgets it (bindings and
 * alternate topic, as a live delete would), persists that, and leaves everything else as it was.
 * Here against a real file on disk, and through a real broker that calls it once its topics are loaded.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ExchangeStore } from '../../../src/broker/exchanges/index.js'
import { startBroker } from '../../helpers/broker-process.js'
import { jsonRequest } from '../../helpers/http.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function fileWith(exchanges: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-exchanges-'))
  dirs.push(dir)
  const file = join(dir, 'exchanges.json')
  writeFileSync(file, JSON.stringify({ version: 1, exchanges }))
  return file
}

const left = {
  name: 'fan',
  type: 'fanout',
  alternateTopic: 'ghost-alt',
  bindings: [
    { topic: 'ghost', bindingKey: '' },
    { topic: 'real', bindingKey: '' },
  ],
}
const untouched = {
  name: 'x',
  type: 'topic',
  alternateTopic: 'real',
  bindings: [{ topic: 'real', bindingKey: '#' }],
}

describe('exchanges naming topics that no longer exist', () => {
  it('are loaded as written, since topics load after exchanges', async () => {
    const store = new ExchangeStore(fileWith([left]), { topicExists: (t) => t === 'real' })
    await store.load()
    expect(store.registry.route('fan', '').sort()).toEqual(['ghost', 'real'])
  })

  it('lose the missing topics, persisted, and keep the rest', async () => {
    const file = fileWith([left, untouched])
    const store = new ExchangeStore(file, { topicExists: (t) => t === 'real' })
    await store.load()
    expect(await store.dropMissingTopics()).toEqual(['fan'])
    const fan = store.registry.get('fan')
    expect(fan.alternateTopic).toBeNull()
    expect(fan.bindings).toEqual([{ topic: 'real', bindingKey: '' }])
    expect(store.registry.match('fan', 'any')).toEqual(['real'])
    expect(store.registry.get('x')).toMatchObject({ alternateTopic: 'real', bindings: untouched.bindings })

    const onDisk = JSON.parse(readFileSync(file, 'utf8'))
    expect(onDisk).toEqual({
      version: 1,
      exchanges: [
        { ...left, alternateTopic: null, bindings: [{ topic: 'real', bindingKey: '' }] },
        untouched,
      ],
    })
    // A second pass finds nothing left to drop.
    expect(await store.dropMissingTopics()).toEqual([])
  })

  it('are left alone when the store has no way to know which topics exist', async () => {
    const store = new ExchangeStore(fileWith([left]))
    await store.load()
    expect(await store.dropMissingTopics()).toEqual([])
    expect(store.registry.get('fan').bindings).toHaveLength(2)
  })

  it('are dropped by the broker at start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-exchanges-start-'))
    dirs.push(dataDir)
    const first = await startBroker({ dataDir })
    expect((await jsonRequest(`${first.url}/v1/topics`, 'POST', { name: 'real' })).status).toBe(201)
    await first.stop()
    // The crash state: exchanges.json still names "ghost" and "ghost-alt", which are gone.
    mkdirSync(join(dataDir, '__metadata'), { recursive: true })
    writeFileSync(
      join(dataDir, '__metadata', 'exchanges.json'),
      JSON.stringify({ version: 1, exchanges: [left] }),
    )
    const broker = await startBroker({ dataDir })
    try {
      const described = await jsonRequest(`${broker.url}/v1/exchanges/fan`, 'GET')
      expect(described.body.alternateTopic).toBeNull()
      expect(described.body.bindings).toEqual([{ topic: 'real', bindingKey: '' }])
      const published = await jsonRequest(`${broker.url}/v1/exchanges/fan/records`, 'POST', {
        records: [{ routingKey: 'any', value: 'v' }],
      })
      expect(published.status).toBe(200)
      expect(published.body.results[0].routed.map((r: { topic: string }) => r.topic)).toEqual(['real'])
    } finally {
      await broker.stop()
    }
  })
})
