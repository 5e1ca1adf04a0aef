/**
 * Contract: ExchangeRegistry routes like RabbitMQ's direct, topic and fanout exchanges onto
 * topics. `route()` returns each target topic once, [] when nothing matches, and counts routed and
 * unroutable records. Bind and unbind are idempotent; `removeTopic()` forgets a deleted topic in
 * bindings and alternate topics; bad input throws the error codes of docs/http-api.md ("Errors")
 * and changes nothing.
 */
import { describe, expect, test } from 'vitest'
import { ExchangeRegistry } from '../../../../src/broker/exchanges/exchange-registry.js'
import {
  ExchangeExistsError,
  ExchangeNotFoundError,
  InvalidRequestError,
  TopicNotFoundError,
} from '../../../../src/errors.js'

function sorted(topics: string[]): string[] {
  return [...topics].sort()
}

describe('direct exchanges', () => {
  test('route to the topics whose binding key equals the routing key', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'orders', type: 'direct' })
    registry.bind('orders', { topic: 'eu-orders', bindingKey: 'eu' })
    registry.bind('orders', { topic: 'all-orders', bindingKey: 'eu' })
    registry.bind('orders', { topic: 'all-orders', bindingKey: 'us' })
    expect(sorted(registry.route('orders', 'eu'))).toEqual(['all-orders', 'eu-orders'])
    expect(registry.route('orders', 'us')).toEqual(['all-orders'])
    expect(registry.route('orders', 'e*')).toEqual([])
    expect(registry.route('orders', 'eu.x')).toEqual([])
  })

  test('a missing binding key is the empty key, matching only the empty routing key', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct' })
    registry.bind('x', { topic: 't' })
    expect(registry.get('x').bindings).toEqual([{ topic: 't', bindingKey: '' }])
    expect(registry.route('x', '')).toEqual(['t'])
    expect(registry.route('x', 'a')).toEqual([])
  })
})

describe('topic exchanges', () => {
  test('route by RabbitMQ word patterns', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'events', type: 'topic' })
    registry.bind('events', { topic: 'eu-created', bindingKey: 'orders.eu.*.created' })
    registry.bind('events', { topic: 'logs', bindingKey: 'logs.#' })
    registry.bind('events', { topic: 'audit', bindingKey: '#' })
    expect(sorted(registry.route('events', 'orders.eu.shop1.created'))).toEqual(['audit', 'eu-created'])
    expect(sorted(registry.route('events', 'logs'))).toEqual(['audit', 'logs'])
    expect(registry.route('events', 'orders.us.shop1.created')).toEqual(['audit'])
  })

  test('a topic bound by several matching keys receives the record once', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'events', type: 'topic' })
    registry.bind('events', { topic: 't', bindingKey: 'a.*' })
    registry.bind('events', { topic: 't', bindingKey: 'a.#' })
    registry.bind('events', { topic: 't', bindingKey: 'a.b' })
    expect(registry.get('events').bindings).toHaveLength(3)
    expect(registry.route('events', 'a.b')).toEqual(['t'])
  })

  test('unbinding one key keeps the topic reachable through its other keys', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'events', type: 'topic' })
    registry.bind('events', { topic: 't', bindingKey: 'a.*' })
    registry.bind('events', { topic: 't', bindingKey: 'a.b' })
    expect(registry.unbind('events', { topic: 't', bindingKey: 'a.*' })).toBe(true)
    expect(registry.route('events', 'a.b')).toEqual(['t'])
    expect(registry.route('events', 'a.c')).toEqual([])
  })
})

describe('fanout exchanges', () => {
  test('route to every bound topic whatever the key', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'broadcast', type: 'fanout' })
    registry.bind('broadcast', { topic: 'a' })
    registry.bind('broadcast', { topic: 'b', bindingKey: 'ignored' })
    expect(sorted(registry.route('broadcast', 'anything'))).toEqual(['a', 'b'])
    expect(sorted(registry.route('broadcast', ''))).toEqual(['a', 'b'])
  })

  test('store keys as "", so one topic is one binding and unbind needs no key', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'broadcast', type: 'fanout' })
    expect(registry.bind('broadcast', { topic: 'a', bindingKey: 'k1' })).toBe(true)
    expect(registry.bind('broadcast', { topic: 'a', bindingKey: 'k2' })).toBe(false)
    expect(registry.get('broadcast').bindings).toEqual([{ topic: 'a', bindingKey: '' }])
    expect(registry.unbind('broadcast', { topic: 'a', bindingKey: 'k3' })).toBe(true)
    expect(registry.route('broadcast', 'x')).toEqual([])
  })
})

describe('bindings', () => {
  test('bind is idempotent and unbind of a missing binding is a no-op', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct' })
    expect(registry.bind('x', { topic: 't', bindingKey: 'k' })).toBe(true)
    expect(registry.bind('x', { topic: 't', bindingKey: 'k' })).toBe(false)
    expect(registry.get('x').bindings).toEqual([{ topic: 't', bindingKey: 'k' }])
    expect(registry.unbind('x', { topic: 't', bindingKey: 'other' })).toBe(false)
    expect(registry.unbind('x', { topic: 't', bindingKey: 'k' })).toBe(true)
    expect(registry.unbind('x', { topic: 't', bindingKey: 'k' })).toBe(false)
    expect(registry.route('x', 'k')).toEqual([])
  })

  test('reject a bad topic name or an over-long binding key', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'topic' })
    expect(() => registry.bind('x', { topic: 'bad/name', bindingKey: 'k' })).toThrow(InvalidRequestError)
    expect(() => registry.bind('x', { topic: '..', bindingKey: 'k' })).toThrow(InvalidRequestError)
    expect(() => registry.bind('x', { topic: 't', bindingKey: 'k'.repeat(256) })).toThrow(InvalidRequestError)
    expect(registry.bind('x', { topic: 't', bindingKey: 'k'.repeat(255) })).toBe(true)
    expect(registry.get('x').bindings).toHaveLength(1)
  })

  test('with topicExists, refuse a missing topic as binding or alternate', () => {
    const topics = new Set(['t'])
    const registry = new ExchangeRegistry({ topicExists: (topic) => topics.has(topic) })
    expect(() => registry.create({ name: 'x', type: 'direct', alternateTopic: 'gone' })).toThrow(
      TopicNotFoundError,
    )
    expect(registry.has('x')).toBe(false)
    registry.create({ name: 'x', type: 'direct', alternateTopic: 't' })
    expect(() => registry.bind('x', { topic: 'gone', bindingKey: 'k' })).toThrow(TopicNotFoundError)
    expect(registry.bind('x', { topic: 't', bindingKey: 'k' })).toBe(true)
  })

  test('operations on a missing exchange throw EXCHANGE_NOT_FOUND', () => {
    const registry = new ExchangeRegistry()
    expect(() => registry.get('nope')).toThrow(ExchangeNotFoundError)
    expect(() => registry.delete('nope')).toThrow(ExchangeNotFoundError)
    expect(() => registry.bind('nope', { topic: 't' })).toThrow(ExchangeNotFoundError)
    expect(() => registry.unbind('nope', { topic: 't' })).toThrow(ExchangeNotFoundError)
    expect(() => registry.route('nope', 'k')).toThrow(ExchangeNotFoundError)
  })
})

describe('exchange declarations', () => {
  test('create, get, list and delete', () => {
    const registry = new ExchangeRegistry()
    const created = registry.create({ name: 'b-exchange', type: 'topic', alternateTopic: 'unrouted' })
    expect(created).toEqual({
      name: 'b-exchange',
      type: 'topic',
      alternateTopic: 'unrouted',
      bindings: [],
      stats: { routed: 0, unroutable: 0 },
    })
    registry.create({ name: 'a-exchange', type: 'fanout' })
    expect(registry.list().map((x) => x.name)).toEqual(['a-exchange', 'b-exchange'])
    expect(registry.get('a-exchange').alternateTopic).toBeNull()
    registry.delete('b-exchange')
    expect(registry.has('b-exchange')).toBe(false)
    expect(registry.size).toBe(1)
  })

  test('a second create of the same name is EXCHANGE_EXISTS', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct' })
    expect(() => registry.create({ name: 'x', type: 'direct' })).toThrow(ExchangeExistsError)
    expect(() => registry.create({ name: 'x', type: 'topic' })).toThrow(ExchangeExistsError)
  })

  test.each(['', '.', '..', 'a/b', 'with space', 'é', 'x'.repeat(250)])(
    'name %j is INVALID_REQUEST',
    (name) => {
      const registry = new ExchangeRegistry()
      expect(() => registry.create({ name, type: 'direct' })).toThrow(InvalidRequestError)
      expect(registry.size).toBe(0)
    },
  )

  test.each(['a', 'A-b_c.d', '...', 'x'.repeat(249)])('name %j is accepted', (name) => {
    const registry = new ExchangeRegistry()
    expect(registry.create({ name, type: 'direct' }).name).toBe(name)
  })

  test('an unknown type is INVALID_REQUEST', () => {
    const registry = new ExchangeRegistry()
    const request = { name: 'x', type: 'headers' } as unknown as Parameters<ExchangeRegistry['create']>[0]
    expect(() => registry.create(request)).toThrow(InvalidRequestError)
    const proto = { name: 'y', type: 'toString' } as unknown as Parameters<ExchangeRegistry['create']>[0]
    expect(() => registry.create(proto)).toThrow(InvalidRequestError)
  })

  test('deleting an exchange drops its bindings; recreating it starts empty', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'fanout' })
    registry.bind('x', { topic: 't' })
    registry.delete('x')
    registry.create({ name: 'x', type: 'fanout' })
    expect(registry.route('x', '')).toEqual([])
  })
})

describe('routing stats', () => {
  test('count routed and unroutable records per exchange', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct', alternateTopic: 'fallback' })
    registry.bind('x', { topic: 't', bindingKey: 'k' })
    registry.route('x', 'k')
    registry.route('x', 'k')
    expect(registry.route('x', 'miss')).toEqual([])
    expect(registry.get('x').stats).toEqual({ routed: 2, unroutable: 1 })
  })

  test('a returned array is the caller’s to keep', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'fanout' })
    registry.bind('x', { topic: 't' })
    registry.route('x', '').push('mutated')
    expect(registry.route('x', '')).toEqual(['t'])
  })
})

describe('removeTopic', () => {
  test('drops every binding to the topic and clears it as alternate', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'd', type: 'direct', alternateTopic: 'gone' })
    registry.create({ name: 't', type: 'topic' })
    registry.create({ name: 'f', type: 'fanout', alternateTopic: 'kept' })
    registry.create({ name: 'untouched', type: 'direct' })
    registry.bind('d', { topic: 'gone', bindingKey: 'k' })
    registry.bind('d', { topic: 'kept', bindingKey: 'k' })
    registry.bind('t', { topic: 'gone', bindingKey: 'a.*' })
    registry.bind('t', { topic: 'gone', bindingKey: '#' })
    registry.bind('f', { topic: 'gone' })
    registry.bind('untouched', { topic: 'kept', bindingKey: 'k' })

    expect(registry.removeTopic('gone')).toEqual(['d', 't', 'f'])

    expect(registry.route('d', 'k')).toEqual(['kept'])
    expect(registry.get('d').alternateTopic).toBeNull()
    expect(registry.route('t', 'a.b')).toEqual([])
    expect(registry.get('t').bindings).toEqual([])
    expect(registry.route('f', '')).toEqual([])
    expect(registry.get('f').alternateTopic).toBe('kept')
    expect(registry.removeTopic('gone')).toEqual([])
  })
})

describe('snapshots', () => {
  test('toSnapshot / fromSnapshot round-trips declarations and bindings, not stats', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'topic', alternateTopic: 'alt' })
    registry.bind('x', { topic: 't2', bindingKey: 'b.#' })
    registry.bind('x', { topic: 't1', bindingKey: 'a.*' })
    registry.route('x', 'a.b')
    const snapshot = registry.toSnapshot()
    expect(snapshot).toEqual({
      version: 1,
      exchanges: [
        {
          name: 'x',
          type: 'topic',
          alternateTopic: 'alt',
          bindings: [
            { topic: 't2', bindingKey: 'b.#' },
            { topic: 't1', bindingKey: 'a.*' },
          ],
        },
      ],
    })
    const copy = ExchangeRegistry.fromSnapshot(snapshot)
    expect(copy.toSnapshot()).toEqual(snapshot)
    expect(copy.route('x', 'a.b')).toEqual(['t1'])
    expect(copy.get('x').stats).toEqual({ routed: 1, unroutable: 0 })
  })

  test('restore is all or nothing and keeps the stats of surviving exchanges', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct' })
    registry.bind('x', { topic: 't', bindingKey: 'k' })
    registry.route('x', 'k')
    const before = registry.toSnapshot()
    registry.bind('x', { topic: 'u', bindingKey: 'k' })
    registry.restore(before)
    expect(registry.route('x', 'k')).toEqual(['t'])
    expect(registry.get('x').stats).toEqual({ routed: 2, unroutable: 0 })

    const duplicate = { version: 1 as const, exchanges: [...before.exchanges, ...before.exchanges] }
    expect(() => registry.restore(duplicate)).toThrow(ExchangeExistsError)
    const badName = { version: 1 as const, exchanges: [{ ...before.exchanges[0]!, name: '..' }] }
    expect(() => registry.restore(badName)).toThrow(InvalidRequestError)
    expect(registry.toSnapshot()).toEqual(before)
  })
})

describe('one exchange at a time (a cluster broker taking in changes made elsewhere)', () => {
  test('replaceExchange sets one exchange, keeps its stats and routes by the new bindings; forget drops it', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'direct' })
    registry.bind('x', { topic: 'a', bindingKey: 'k' })
    registry.count('x', 2, 1)
    registry.replaceExchange({
      name: 'x',
      type: 'direct',
      alternateTopic: 'alt',
      bindings: [{ topic: 'b', bindingKey: 'k' }],
    })
    expect(registry.match('x', 'k')).toEqual(['b'])
    expect(registry.get('x')).toMatchObject({ alternateTopic: 'alt', stats: { routed: 2, unroutable: 1 } })
    registry.replaceExchange({ name: 'y', type: 'fanout', alternateTopic: null, bindings: [] })
    expect(registry.list().map((e) => e.name)).toEqual(['x', 'y'])
    expect(registry.forget('x')).toBe(true)
    expect(registry.forget('x')).toBe(false)
    expect(registry.list().map((e) => e.name)).toEqual(['y'])
  })

  test('a definition that breaks the rules throws and changes nothing', () => {
    const registry = new ExchangeRegistry()
    registry.create({ name: 'x', type: 'topic' })
    registry.bind('x', { topic: 'a', bindingKey: 'a.#' })
    const before = registry.toSnapshot()
    expect(() =>
      registry.replaceExchange({
        name: 'x',
        type: 'topic',
        alternateTopic: null,
        bindings: [{ topic: 'bad/name', bindingKey: '' }],
      }),
    ).toThrow(InvalidRequestError)
    expect(() =>
      registry.replaceExchange({ name: 'x', type: 'nope' as 'topic', alternateTopic: null, bindings: [] }),
    ).toThrow(InvalidRequestError)
    expect(registry.toSnapshot()).toEqual(before)
  })
})
