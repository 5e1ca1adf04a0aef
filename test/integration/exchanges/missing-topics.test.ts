/**
 * Crash state between two metadata files: a topic's deletion is written, then the broker dies
 * before <data-dir>/__metadata/exchanges.json drops the topic's bindings. The exchanges file then
 * names a topic that does not exist; `ExchangeStore.dropMissingTopics()` forgets it (bindings and
 * alternate topic, as a live delete would), persists that, and leaves everything else as it was.
 * Here against a real file on disk; the broker must call it once its topics are loaded.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ExchangeStore } from '../../../src/broker/exchanges/index.js'

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

  it.todo(
    'are dropped by the broker at start (start-broker.ts: call dropMissingTopics() after broker.start())',
  )
})
