/**
 * Contract: EtcdExchangeStore keeps one etcd key per exchange and changes it only by
 * compare-and-swap. Changes through two stores at once are all kept; a refusal (EXCHANGE_NOT_FOUND,
 * EXCHANGE_EXISTS) is confirmed against etcd, not taken from a copy that has not caught up; a binding
 * to a topic deleted meanwhile is refused and writes nothing; a deleted topic's bindings are removed,
 * but not those of a topic re-created under the name. Runs against a real etcd process.
 */
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ClusterKeys } from '../../../../src/cluster/cluster-records.js'
import { EtcdExchangeStore, exchangeKey } from '../../../../src/cluster/etcd-exchange-backend.js'
import { type EtcdProcess, startEtcd, waitUntil } from '../../../helpers/cluster.js'

describe('EtcdExchangeStore', () => {
  let etcd: EtcdProcess
  let client: Etcd3
  /** Topic name → mod revision of its key, as a broker's cluster view would show it. */
  const topics = new Map<string, number>()
  const stores: EtcdExchangeStore[] = []

  beforeAll(async () => {
    etcd = await startEtcd()
    client = new Etcd3({ hosts: etcd.url })
  })

  afterAll(async () => {
    for (const store of stores) await store.close()
    client?.close()
    await etcd?.stop()
  })

  const newStore = async () => {
    const store = new EtcdExchangeStore({
      client,
      topicExists: (topic) => topics.has(topic),
      topicRevision: (topic) => topics.get(topic),
      connected: () => true,
      logger: { warn: () => undefined },
    })
    await store.load()
    stores.push(store)
    return store
  }

  const putTopic = async (name: string) => {
    const res = await client.put(ClusterKeys.topic(name)).value('{}').exec()
    topics.set(name, Number(res.header.revision))
  }

  const stored = async (name: string) => {
    const text = await client.get(exchangeKey(name)).string()
    return text === null ? null : JSON.parse(text)
  }

  test('bindings made through two stores at once are all kept', async () => {
    await putTopic('t-a')
    await putTopic('t-b')
    const [one, two] = [await newStore(), await newStore()]
    await one.create({ name: 'race', type: 'direct' })
    await waitUntil(() => two.registry.has('race'), 5_000, 'the second store to see the exchange')
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
    const created = await Promise.all(
      keys.map((bindingKey, i) =>
        (i % 2 === 0 ? one : two).bind('race', { topic: i % 3 === 0 ? 't-a' : 't-b', bindingKey }),
      ),
    )
    expect(created).toEqual(keys.map(() => true))
    const bindings = (await stored('race')).bindings as Array<{ bindingKey: string }>
    expect(bindings.map((b) => b.bindingKey).sort()).toEqual([...keys].sort())
    await waitUntil(
      () =>
        one.registry.get('race').bindings.length === 12 && two.registry.get('race').bindings.length === 12,
      5_000,
      'both stores to show the 12 bindings',
    )
  })

  test('a refusal is checked against etcd: a store that has not seen a create still binds to it', async () => {
    await putTopic('t-c')
    const [one, stale] = [await newStore(), await newStore()]
    // Its watch stopped, `stale` knows nothing of what happens next.
    await stale.close()
    await one.create({ name: 'unseen', type: 'fanout' })
    expect(stale.registry.has('unseen')).toBe(false)
    await expect(stale.bind('unseen', { topic: 't-c' })).resolves.toBe(true)
    await expect(stale.create({ name: 'unseen', type: 'fanout' })).rejects.toMatchObject({
      code: 'EXCHANGE_EXISTS',
    })
    expect((await stored('unseen')).bindings).toEqual([{ topic: 't-c', bindingKey: '' }])
    await one.delete('unseen')
    await expect(stale.unbind('unseen', { topic: 't-c' })).rejects.toMatchObject({
      code: 'EXCHANGE_NOT_FOUND',
    })
  })

  test('a binding to a topic deleted meanwhile is refused and writes nothing', async () => {
    await putTopic('t-gone')
    const store = await newStore()
    await store.create({ name: 'guarded', type: 'direct' })
    const before = await client.get(exchangeKey('guarded')).exec()
    // Deleted in etcd; this broker's view has not caught up yet.
    await client.delete().key(ClusterKeys.topic('t-gone')).exec()
    await expect(store.bind('guarded', { topic: 't-gone', bindingKey: 'x' })).rejects.toMatchObject({
      code: 'TOPIC_NOT_FOUND',
    })
    const after = await client.get(exchangeKey('guarded')).exec()
    expect(after.kvs[0]?.mod_revision).toBe(before.kvs[0]?.mod_revision)
    expect(store.registry.get('guarded').bindings).toEqual([])
    topics.delete('t-gone')
  })

  test("a deleted topic's bindings go once; a re-created topic's stay", async () => {
    await putTopic('t-old')
    await putTopic('t-kept')
    const [one, two] = [await newStore(), await newStore()]
    await one.create({ name: 'cleanup', type: 'topic', alternateTopic: 't-old' })
    await one.bind('cleanup', { topic: 't-old', bindingKey: 'a.#' })
    await one.bind('cleanup', { topic: 't-kept', bindingKey: 'b.#' })
    await waitUntil(
      () => two.registry.has('cleanup') && two.registry.get('cleanup').bindings.length === 2,
      5_000,
      'the second store to catch up',
    )
    await client.delete().key(ClusterKeys.topic('t-old')).exec()
    topics.delete('t-old')
    const revisionBefore = Number((await client.get(exchangeKey('cleanup')).exec()).kvs[0]?.mod_revision)
    const [first, second] = await Promise.all([one.removeTopic('t-old'), two.removeTopic('t-old')])
    expect([...first, ...second]).toEqual(['cleanup'])
    const after = await client.get(exchangeKey('cleanup')).exec()
    // One write only: the other store found nothing left to remove.
    expect(Number(after.kvs[0]?.version)).toBe(4)
    expect(Number(after.kvs[0]?.mod_revision)).toBeGreaterThan(revisionBefore)
    expect(await stored('cleanup')).toMatchObject({
      alternateTopic: null,
      bindings: [{ topic: 't-kept', bindingKey: 'b.#' }],
    })
    // t-kept still exists in etcd: a stale removal must not drop its binding.
    await expect(one.removeTopic('t-kept')).resolves.toEqual([])
    expect((await stored('cleanup')).bindings).toEqual([{ topic: 't-kept', bindingKey: 'b.#' }])
  })
})
