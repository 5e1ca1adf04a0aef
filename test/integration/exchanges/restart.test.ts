/**
 * Exchanges and bindings are durable metadata (issue 6): after `kill -9` and after a clean restart
 * the broker lists the same exchanges with the same types, alternate topics and bindings, routes
 * publishes the same way, and appends after the records routed before the restart. Changes made
 * just before the kill (a binding removed, a topic deleted, an exchange deleted) are kept too,
 * because every change is written to <data-dir>/__metadata/exchanges.json before it is answered.
 * Stats are per process: they start again at zero.
 */
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json } from '../../helpers/http.js'
import { bind, createExchange, createTopic, definitions, publish, valuesOf } from './exchange-helpers.js'

let broker: BrokerProcess | undefined
afterEach(async () => {
  await broker?.stop()
  if (broker) rmSync(broker.dataDir, { recursive: true, force: true })
  broker = undefined
})

/** Three exchanges, one of each type, with bindings and an alternate topic, and one publish each. */
async function declareAll(url: string) {
  const orders = await createTopic(url, 'orders', 2)
  const audit = await createTopic(url, 'audit')
  const lost = await createTopic(url, 'lost')
  const direct = await createExchange(url, 'direct', lost)
  const topic = await createExchange(url, 'topic')
  const fanout = await createExchange(url, 'fanout')
  await bind(url, direct, orders, 'order')
  await bind(url, topic, orders, 'orders.*.created')
  await bind(url, topic, audit, '#')
  await bind(url, topic, audit, 'orders.#') // a second binding of the same topic: still one copy
  await bind(url, fanout, orders)
  await bind(url, fanout, audit)
  expect(await publish(url, direct, [{ routingKey: 'order', key: 'k1', value: 'd1' }])).toHaveLength(1)
  expect(await publish(url, direct, [{ routingKey: 'other', value: 'd-lost' }])).toEqual([
    [{ topic: lost, partition: 0, offset: 0 }],
  ])
  await publish(url, topic, [{ routingKey: 'orders.eu.created', key: 'k1', value: 't1' }])
  await publish(url, fanout, [{ routingKey: '', key: 'k1', value: 'f1' }])
  const listed = await json(`${url}/v1/exchanges`, 'GET')
  expect(listed.status).toBe(200)
  return { orders, audit, lost, direct, topic, fanout, before: listed.body.exchanges }
}

/** After a restart: the same definitions, zeroed stats, and routing that appends after the old records. */
async function expectSameAfterRestart(url: string, s: Awaited<ReturnType<typeof declareAll>>) {
  const listed = await json(`${url}/v1/exchanges`, 'GET')
  expect(listed.status).toBe(200)
  expect(definitions(listed.body.exchanges)).toEqual(definitions(s.before))
  for (const e of listed.body.exchanges) expect(e.stats).toEqual({ routed: 0, unroutable: 0 })
  expect((await json(`${url}/v1/exchanges/${s.topic}`, 'GET')).body).toEqual({
    name: s.topic,
    type: 'topic',
    alternateTopic: null,
    bindings: [
      { topic: s.orders, bindingKey: 'orders.*.created' },
      { topic: s.audit, bindingKey: '#' },
      { topic: s.audit, bindingKey: 'orders.#' },
    ],
    stats: { routed: 0, unroutable: 0 },
  })

  // Key k1 went to one partition of `orders` before the restart; it goes there again.
  expect(await publish(url, s.direct, [{ routingKey: 'order', key: 'k1', value: 'd2' }])).toHaveLength(1)
  expect(await publish(url, s.direct, [{ routingKey: 'nope', value: 'd-lost-2' }])).toEqual([
    [{ topic: s.lost, partition: 0, offset: 1 }],
  ])
  const [viaTopic] = await publish(url, s.topic, [
    { routingKey: 'orders.us.created', key: 'k1', value: 't2' },
  ])
  expect(viaTopic?.map((t) => t.topic).sort()).toEqual([s.orders, s.audit].sort())
  expect(viaTopic?.find((t) => t.topic === s.audit)?.offset).toBe(2)
  const [viaFanout] = await publish(url, s.fanout, [{ routingKey: 'ignored', key: 'k1', value: 'f2' }])
  expect(viaFanout?.map((t) => t.topic).sort()).toEqual([s.orders, s.audit].sort())
  expect(viaFanout?.find((t) => t.topic === s.audit)?.offset).toBe(3)

  expect(await valuesOf(url, s.orders)).toEqual(['d1', 't1', 'f1', 'd2', 't2', 'f2'])
  expect(await valuesOf(url, s.audit)).toEqual(['t1', 'f1', 't2', 'f2'])
  expect(await valuesOf(url, s.lost)).toEqual(['d-lost', 'd-lost-2'])
  expect((await json(`${url}/v1/exchanges/${s.direct}`, 'GET')).body.stats).toEqual({
    routed: 1,
    unroutable: 1,
  })
}

describe('exchanges across restarts', () => {
  it('survive kill -9: same exchanges, bindings and alternate topic, same routing', async () => {
    broker = await startBroker({ keepData: true })
    const state = await declareAll(broker.url)
    await broker.kill('SIGKILL')
    broker = await broker.restart()
    await expectSameAfterRestart(broker.url, state)
  })

  it('survive a clean restart (SIGTERM)', async () => {
    broker = await startBroker({ keepData: true })
    const state = await declareAll(broker.url)
    broker = await broker.restart()
    await expectSameAfterRestart(broker.url, state)
  })

  it('keep the changes made just before kill -9: unbind, topic delete, exchange delete', async () => {
    broker = await startBroker({ keepData: true })
    const url = broker.url
    const a = await createTopic(url, 'a')
    const b = await createTopic(url, 'b')
    const alt = await createTopic(url, 'alt')
    const x = await createExchange(url, 'topic', alt)
    const gone = await createExchange(url, 'direct')
    await bind(url, x, a, 'a.*')
    await bind(url, x, a, 'keep.#')
    await bind(url, x, b, '#')
    await bind(url, gone, a, 'k')
    expect(
      (await json(`${url}/v1/exchanges/${x}/bindings`, 'DELETE', { topic: a, bindingKey: 'a.*' })).status,
    ).toBe(204)
    expect((await json(`${url}/v1/topics/${b}`, 'DELETE')).status).toBe(204)
    expect((await json(`${url}/v1/topics/${alt}`, 'DELETE')).status).toBe(204)
    expect((await json(`${url}/v1/exchanges/${gone}`, 'DELETE')).status).toBe(204)
    const before = (await json(`${url}/v1/exchanges`, 'GET')).body.exchanges
    await broker.kill('SIGKILL')
    broker = await broker.restart()

    const after = (await json(`${broker.url}/v1/exchanges`, 'GET')).body.exchanges
    expect(definitions(after)).toEqual(definitions(before))
    expect(after.map((e: { name: string }) => e.name)).not.toContain(gone)
    expect((await json(`${broker.url}/v1/exchanges/${x}`, 'GET')).body).toMatchObject({
      alternateTopic: null,
      bindings: [{ topic: a, bindingKey: 'keep.#' }],
    })
    expect(
      await publish(broker.url, x, [
        { routingKey: 'a.1', value: 1 },
        { routingKey: 'keep.1.2', value: 2 },
      ]),
    ).toEqual([[], [{ topic: a, partition: 0, offset: 0 }]])
    expect(await valuesOf(broker.url, a)).toEqual([2])
  })

  it('survive several restarts in a row, and accept changes between them', async () => {
    broker = await startBroker({ keepData: true })
    const t = await createTopic(broker.url, 'multi')
    const x = await createExchange(broker.url, 'direct')
    await bind(broker.url, x, t, 'one')
    broker = await broker.restart()
    await bind(broker.url, x, t, 'two')
    await broker.kill('SIGKILL')
    broker = await broker.restart()
    expect((await json(`${broker.url}/v1/exchanges/${x}`, 'GET')).body.bindings).toEqual([
      { topic: t, bindingKey: 'one' },
      { topic: t, bindingKey: 'two' },
    ])
    expect(
      await publish(broker.url, x, [
        { routingKey: 'one', value: 1 },
        { routingKey: 'two', value: 2 },
      ]),
    ).toEqual([[{ topic: t, partition: 0, offset: 0 }], [{ topic: t, partition: 0, offset: 1 }]])
  })
})
