/**
 * ACL semantics on a real broker with --auth: prefix rules, describe implied by other operations,
 * lists that show only what the principal may describe, internal topics out of reach, exchange
 * bindings that need write on their target, and publishes that need only write on the exchange.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BrokerProcess } from '../../helpers/broker-process.js'
import { adminCall, call, grant, makeUser, startAuthBroker } from './auth-helpers.js'

let broker: BrokerProcess
let url: string
let alice: string

beforeAll(async () => {
  broker = await startAuthBroker()
  url = broker.url
  alice = await makeUser(url, 'alice', 'alice-password')
  for (const name of ['orders-eu', 'orders-us', 'payments']) {
    await adminCall(url, 'POST', '/v1/topics', { name }, 201)
  }
  await grant(url, 'alice', 'write', 'topic', 'orders-', 'prefix')
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

const asAlice = (method: string, path: string, body?: unknown) =>
  call(url, method, path, { auth: { bearer: alice }, body })

describe('prefix ACLs', () => {
  it('a prefix rule covers every topic starting with it and no other', async () => {
    const eu = await asAlice('POST', '/v1/topics/orders-eu/records', { records: [{ value: 'a' }] })
    expect(eu.status).toBe(200)
    expect(eu.body.offsets).toEqual([{ partition: 0, offset: 0 }])
    const us = await asAlice('POST', '/v1/topics/orders-us/records', { records: [{ value: 'b' }] })
    expect(us.body.offsets).toEqual([{ partition: 0, offset: 0 }])
    const pay = await asAlice('POST', '/v1/topics/payments/records', { records: [{ value: 'c' }] })
    expect(pay.status).toBe(403)
    expect(pay.body).toEqual({
      error: { code: 'FORBIDDEN', message: 'alice may not write topic "payments"' },
    })
    // The refused produce wrote nothing.
    const end = await adminCall(url, 'GET', '/v1/topics/payments/partitions/0/offsets?at=latest')
    expect(end.body.offset).toBe(0)
  })

  it('write does not imply read; describe is implied by write', async () => {
    expect((await asAlice('GET', '/v1/topics/orders-eu/partitions/0/records?offset=0')).status).toBe(403)
    expect((await asAlice('GET', '/v1/topics/orders-eu')).status).toBe(200)
  })

  it('lists show only what the principal may describe', async () => {
    const topics = await asAlice('GET', '/v1/topics')
    expect(topics.body.topics.map((t: { name: string }) => t.name).sort()).toEqual(['orders-eu', 'orders-us'])
    const all = await adminCall(url, 'GET', '/v1/topics')
    expect(all.body.topics.map((t: { name: string }) => t.name).sort()).toEqual([
      'orders-eu',
      'orders-us',
      'payments',
    ])
  })
})

describe('internal topics', () => {
  it('are never granted, even by a wildcard rule', async () => {
    const id = await grant(url, 'alice', 'read', 'topic', '*')
    expect((await asAlice('GET', '/v1/topics/payments/partitions/0/records?offset=0')).status).toBe(200)
    const internal = await asAlice('GET', '/v1/topics/__consumer_offsets/partitions/0/records?offset=0')
    expect(internal.status).toBe(403)
    await adminCall(url, 'DELETE', `/v1/acls/${id}`, undefined, 204)
  })
})

describe('exchanges', () => {
  it('binding needs alter on the exchange and write on the target; publishing needs write on the exchange', async () => {
    await adminCall(url, 'POST', '/v1/exchanges', { name: 'shop', type: 'direct' }, 201)
    await grant(url, 'alice', 'alter', 'exchange', 'shop')
    const toPayments = await asAlice('POST', '/v1/exchanges/shop/bindings', {
      topic: 'payments',
      bindingKey: 'pay',
    })
    expect(toPayments.status).toBe(403)
    expect(toPayments.body.error.message).toBe('alice may not write topic "payments"')
    const toOrders = await asAlice('POST', '/v1/exchanges/shop/bindings', {
      topic: 'orders-eu',
      bindingKey: 'eu',
    })
    expect(toOrders.status).toBe(201)

    // bob may publish to the exchange only; the binding admin made routes to payments anyway.
    const bob = await makeUser(url, 'bob', 'bob-password')
    await adminCall(url, 'POST', '/v1/exchanges/shop/bindings', { topic: 'payments', bindingKey: 'pay' }, 201)
    await grant(url, 'bob', 'write', 'exchange', 'shop')
    const published = await call(url, 'POST', '/v1/exchanges/shop/records', {
      auth: { bearer: bob },
      body: { records: [{ routingKey: 'pay', value: 'x' }] },
    })
    expect(published.status).toBe(200)
    expect(published.body.results).toEqual([{ routed: [{ topic: 'payments', partition: 0, offset: 0 }] }])
    const direct = await call(url, 'POST', '/v1/topics/payments/records', {
      auth: { bearer: bob },
      body: { records: [{ value: 'y' }] },
    })
    expect(direct.status).toBe(403)
  })
})
