/**
 * Contract: ExchangeStore writes the whole exchange registry to one JSON file after each change
 * (atomically, through `<file>.tmp`), and a new store loading that file routes exactly as the old
 * one did. A missing file is an empty registry, a corrupt one is STORAGE_ERROR naming the file, and
 * a failed write rolls the in-memory change back.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test as base, describe, expect } from 'vitest'
import { ExchangeStore, readExchangesFile } from '../../../../src/broker/exchanges/exchange-store.js'
import { ExchangeExistsError, StorageError } from '../../../../src/errors.js'

const test = base.extend<{ dir: string }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take their dependencies by destructuring.
  dir: async ({}, use) => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-exchanges-'))
    await use(dir)
    await rm(dir, { recursive: true, force: true })
  },
})

describe('ExchangeStore', () => {
  test('a missing file loads as an empty registry, and its directory is created on first write', async ({
    dir,
  }) => {
    const file = join(dir, '__metadata', 'exchanges.json')
    const store = new ExchangeStore(file)
    const registry = await store.load()
    expect(registry.list()).toEqual([])
    await store.create({ name: 'x', type: 'direct' })
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      version: 1,
      exchanges: [{ name: 'x', type: 'direct', alternateTopic: null, bindings: [] }],
    })
    expect(await readdir(join(dir, '__metadata'))).toEqual(['exchanges.json'])
  })

  test('round trip: a second store loads the same exchanges and routes the same', async ({ dir }) => {
    const file = join(dir, 'exchanges.json')
    const store = new ExchangeStore(file)
    await store.load()
    await store.create({ name: 'events', type: 'topic', alternateTopic: 'unrouted' })
    await store.create({ name: 'fan', type: 'fanout' })
    await store.create({ name: 'doomed', type: 'direct' })
    await store.bind('events', { topic: 'eu', bindingKey: 'orders.eu.*' })
    await store.bind('events', { topic: 'logs', bindingKey: 'logs.#' })
    await store.bind('events', { topic: 'gone', bindingKey: '#' })
    await store.bind('fan', { topic: 'a' })
    await store.bind('fan', { topic: 'b' })
    await store.unbind('fan', { topic: 'b' })
    await store.delete('doomed')
    await store.removeTopic('gone')

    const reloaded = await new ExchangeStore(file).load()
    expect(reloaded.toSnapshot()).toEqual(store.registry.toSnapshot())
    expect(reloaded.list().map((x) => x.name)).toEqual(['events', 'fan'])
    expect(reloaded.route('events', 'orders.eu.created')).toEqual(['eu'])
    expect(reloaded.route('events', 'logs.app.error')).toEqual(['logs'])
    expect(reloaded.route('events', 'other')).toEqual([])
    expect(reloaded.get('events').alternateTopic).toBe('unrouted')
    expect(reloaded.route('fan', 'anything')).toEqual(['a'])
  })

  test('concurrent changes are all persisted, in order', async ({ dir }) => {
    const file = join(dir, 'exchanges.json')
    const store = new ExchangeStore(file)
    await store.load()
    await store.create({ name: 'x', type: 'direct' })
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.bind('x', { topic: `t${i}`, bindingKey: 'k' })),
    )
    const reloaded = await new ExchangeStore(file).load()
    expect(reloaded.route('x', 'k')).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`))
  })

  test('a rejected change writes nothing and does not block later changes', async ({ dir }) => {
    const file = join(dir, 'exchanges.json')
    const store = new ExchangeStore(file)
    await store.load()
    await store.create({ name: 'x', type: 'direct' })
    const written = await readFile(file, 'utf8')
    await expect(store.create({ name: 'x', type: 'topic' })).rejects.toThrow(ExchangeExistsError)
    expect(await store.bind('x', { topic: 't', bindingKey: 'k' })).toBe(true)
    expect(await store.bind('x', { topic: 't', bindingKey: 'k' })).toBe(false)
    expect(await readFile(file, 'utf8')).not.toBe(written)
  })

  test('a failed write rolls the change back and reports STORAGE_ERROR', async ({ dir }) => {
    const blocker = join(dir, 'metadata')
    const store = new ExchangeStore(join(blocker, 'exchanges.json'))
    const registry = await store.load()
    // The parent "directory" becomes a regular file, so mkdir and the temp-file write both fail.
    await writeFile(blocker, '')
    await expect(store.create({ name: 'x', type: 'direct' })).rejects.toThrow(StorageError)
    expect(registry.has('x')).toBe(false)
  })

  test('a file that is not JSON is STORAGE_ERROR naming the file', async ({ dir }) => {
    const file = join(dir, 'exchanges.json')
    await writeFile(file, '{"version": 1, "exchanges": [')
    const error = await new ExchangeStore(file).load().catch((err: unknown) => err)
    expect(error).toBeInstanceOf(StorageError)
    expect((error as Error).message).toContain(file)
    expect((error as Error).message).toContain('corrupt')
  })

  test.for<[string, string]>([
    ['not an object', '[]'],
    ['a wrong version', '{"version": 2, "exchanges": []}'],
    ['exchanges not an array', '{"version": 1, "exchanges": {}}'],
    [
      'a binding without a key',
      '{"version":1,"exchanges":[{"name":"x","type":"direct","alternateTopic":null,"bindings":[{"topic":"t"}]}]}',
    ],
    [
      'an unknown type',
      '{"version":1,"exchanges":[{"name":"x","type":"headers","alternateTopic":null,"bindings":[]}]}',
    ],
    [
      'an invalid name',
      '{"version":1,"exchanges":[{"name":"..","type":"direct","alternateTopic":null,"bindings":[]}]}',
    ],
    [
      'a duplicate exchange',
      '{"version":1,"exchanges":[{"name":"x","type":"direct","alternateTopic":null,"bindings":[]},{"name":"x","type":"direct","alternateTopic":null,"bindings":[]}]}',
    ],
  ])('a file with %s is STORAGE_ERROR', async ([, contents], { dir }) => {
    const file = join(dir, 'exchanges.json')
    await writeFile(file, contents)
    await expect(new ExchangeStore(file).load()).rejects.toThrow(StorageError)
  })

  test('readExchangesFile ignores a stale temp file left by a crash', async ({ dir }) => {
    const file = join(dir, 'exchanges.json')
    await writeFile(`${file}.tmp`, 'half a wri')
    expect(await readExchangesFile(file)).toEqual({ version: 1, exchanges: [] })
  })

  test('using the registry before load is a programming error', () => {
    expect(() => new ExchangeStore('/nonexistent/exchanges.json').registry).toThrow(/load/)
  })
})
