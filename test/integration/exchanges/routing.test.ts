/**
 * Exchanges end to end over HTTP (docs/http-api.md, "Exchanges"; issue 6), against a real broker process:
 * - direct routes on whole-key equality, topic on RabbitMQ's word patterns (`*` one word, `#` zero
 *   or more), fanout to every bound topic whatever the key; each topic receives exactly the records
 *   routed to it, in publish order, and nothing else;
 * - the confirm lists every (topic, partition, offset) a record went to, and each of those offsets
 *   holds that record; a keyed record lands on the partition its key hashes to, as a plain produce;
 * - a record whose routing key matches several bindings to one topic is written there once;
 * - publishes in JSON and MessagePack store keys, values and headers exactly;
 * - unroutable records go to `alternateTopic`, or without one are answered `routed: []`, written
 *   nowhere and counted in the exchange's stats;
 * - deleting a topic drops its bindings (and clears it as an alternate), so publishes stop going there;
 * - a consumer group member reads what the exchange routed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import {
  bind,
  byTopic,
  createExchange,
  createTopic,
  publish,
  type Routed,
  readTopic,
  recordAt,
  uniqueName,
  valuesOf,
} from './exchange-helpers.js'

let broker: BrokerProcess
let url: string

beforeAll(async () => {
  broker = await startBroker()
  url = broker.url
})
afterAll(async () => {
  await broker?.stop()
})

const describeExchange = async (name: string) => {
  const res = await json(`${url}/v1/exchanges/${name}`, 'GET')
  expect(res.status).toBe(200)
  return res.body
}

/** Checks that every routed position of a confirm holds the record that was published. */
async function expectConfirmsHold(routed: Routed[][], records: Array<{ value: unknown }>) {
  for (const [i, targets] of routed.entries()) {
    for (const at of targets) expect((await recordAt(url, at)).value).toEqual(records[i]?.value)
  }
}

describe('direct exchange', () => {
  it('routes on whole-key equality to every topic bound with that key, and confirms each copy', async () => {
    const eu = await createTopic(url, 'eu')
    const us = await createTopic(url, 'us')
    const all = await createTopic(url, 'all')
    const empty = await createTopic(url, 'empty')
    const x = await createExchange(url, 'direct')
    await bind(url, x, eu, 'eu')
    await bind(url, x, us, 'us')
    await bind(url, x, all, 'eu')
    await bind(url, x, all, 'us')
    await bind(url, x, empty) // no key: the binding key is "", matched only by the routing key ""

    const records = [
      { routingKey: 'eu', value: 'r0' },
      { routingKey: 'us', value: 'r1' },
      { routingKey: 'eu', value: 'r2' },
      { routingKey: 'asia', value: 'r3' },
      { routingKey: 'EU', value: 'r4' },
      { routingKey: 'eu.x', value: 'r5' },
      { routingKey: '', value: 'r6' },
      { routingKey: '#', value: 'r7' },
    ]
    const routed = await publish(url, x, records)
    expect(routed.map(byTopic)).toEqual([
      byTopic([
        { topic: eu, partition: 0, offset: 0 },
        { topic: all, partition: 0, offset: 0 },
      ]),
      byTopic([
        { topic: us, partition: 0, offset: 0 },
        { topic: all, partition: 0, offset: 1 },
      ]),
      byTopic([
        { topic: eu, partition: 0, offset: 1 },
        { topic: all, partition: 0, offset: 2 },
      ]),
      [],
      [],
      [],
      [{ topic: empty, partition: 0, offset: 0 }],
      [],
    ])
    await expectConfirmsHold(routed, records)
    expect(await valuesOf(url, eu)).toEqual(['r0', 'r2'])
    expect(await valuesOf(url, us)).toEqual(['r1'])
    expect(await valuesOf(url, all)).toEqual(['r0', 'r1', 'r2'])
    expect(await valuesOf(url, empty)).toEqual(['r6'])
    expect((await describeExchange(x)).stats).toEqual({ routed: 4, unroutable: 4 })
  })

  it('places a keyed record on the partition its key hashes to, as a plain produce would', async () => {
    const routedTopic = await createTopic(url, 'keyed', 4)
    const plainTopic = await createTopic(url, 'plain', 4)
    const x = await createExchange(url, 'direct')
    await bind(url, x, routedTopic, 'k')
    const keys = ['user-1', 'user-2', 'user-3', 'user-4', 'user-5', 'user-1']
    const routed = await publish(
      url,
      x,
      keys.map((key, i) => ({ routingKey: 'k', key, value: i })),
    )
    const plain = await json(`${url}/v1/topics/${plainTopic}/records`, 'POST', {
      records: keys.map((key, i) => ({ key, value: i })),
    })
    expect(plain.status).toBe(200)
    expect(routed.map((r) => r.map((at) => at.partition))).toEqual(
      plain.body.offsets.map((o: { partition: number }) => [o.partition]),
    )
    expect(routed[5]?.[0]?.partition).toBe(routed[0]?.[0]?.partition)
    const stored = await readTopic(url, routedTopic)
    expect(stored).toHaveLength(keys.length)
    for (const [i, targets] of routed.entries()) {
      const [at] = targets
      const rec = await recordAt(url, at as Routed)
      expect({ key: rec.key, value: rec.value }).toEqual({ key: keys[i], value: i })
    }
  })
})

describe('topic exchange', () => {
  it("routes RabbitMQ's tutorial keys to the right topics, once per topic", async () => {
    const q1 = await createTopic(url, 'q1')
    const q2 = await createTopic(url, 'q2')
    const x = await createExchange(url, 'topic')
    await bind(url, x, q1, '*.orange.*')
    await bind(url, x, q2, '*.*.rabbit')
    await bind(url, x, q2, 'lazy.#')
    const cases: Array<[string, string[]]> = [
      ['quick.orange.rabbit', [q1, q2]],
      ['lazy.orange.elephant', [q1, q2]],
      ['quick.orange.fox', [q1]],
      ['lazy.brown.fox', [q2]],
      ['lazy.pink.rabbit', [q2]], // matches *.*.rabbit and lazy.#: written to q2 once
      ['quick.brown.fox', []],
      ['orange', []],
      ['quick.orange.new.rabbit', []],
      ['lazy.orange.new.rabbit', [q2]],
      ['lazy', [q2]], // # matches zero words
      ['lazy.', [q2]], // one empty word after lazy
      ['.orange.', [q1]], // * matches the empty word
      ['', []],
    ]
    const records = cases.map(([routingKey], i) => ({ routingKey, value: `v${i}` }))
    const routed = await publish(url, x, records)
    expect(routed.map((targets) => targets.map((t) => t.topic).sort())).toEqual(
      cases.map(([, topics]) => [...topics].sort()),
    )
    await expectConfirmsHold(routed, records)
    const expectedIn = (topic: string) =>
      cases.flatMap(([, topics], i) => (topics.includes(topic) ? [`v${i}`] : []))
    expect(await valuesOf(url, q1)).toEqual(expectedIn(q1))
    expect(await valuesOf(url, q2)).toEqual(expectedIn(q2))
    // Offsets in each topic are dense and follow publish order.
    expect(
      routed
        .flat()
        .filter((t) => t.topic === q2)
        .map((t) => t.offset),
    ).toEqual(expectedIn(q2).map((_, i) => i))
  })

  it('matches #, a.#, #.c, a.#.c, a.*.c, *.* and empty words, each topic receiving exactly its records', async () => {
    const patterns = ['#', 'a.#', '#.c', 'a.#.c', 'a.*.c', '*.*', 'a..c', '*']
    const topics = new Map<string, string>()
    const x = await createExchange(url, 'topic')
    for (const pattern of patterns) {
      const topic = await createTopic(url, 'pat')
      topics.set(pattern, topic)
      await bind(url, x, topic, pattern)
    }
    const expected: Record<string, string[]> = {
      '': ['#'],
      a: ['#', 'a.#', '*'],
      c: ['#', '#.c', '*'],
      'a.c': ['#', 'a.#', '#.c', 'a.#.c', '*.*'],
      'a.b.c': ['#', 'a.#', '#.c', 'a.#.c', 'a.*.c'],
      'a.b.b.c': ['#', 'a.#', '#.c', 'a.#.c'],
      'a..c': ['#', 'a.#', '#.c', 'a.#.c', 'a.*.c', 'a..c'],
      'x.y': ['#', '*.*'],
      '.': ['#', '*.*'],
      'b.a.c.d': ['#'],
    }
    const keys = Object.keys(expected)
    const routed = await publish(
      url,
      x,
      keys.map((routingKey) => ({ routingKey, value: routingKey })),
    )
    keys.forEach((key, i) => {
      const want = (expected[key] as string[]).map((p) => topics.get(p)).sort()
      expect(routed[i]?.map((t) => t.topic).sort(), `routing key ${JSON.stringify(key)}`).toEqual(want)
    })
    for (const [pattern, topic] of topics) {
      expect(await valuesOf(url, topic), `binding ${pattern}`).toEqual(
        keys.filter((key) => (expected[key] as string[]).includes(pattern)),
      )
    }
  })

  it('writes a record once to a topic that several matching bindings name', async () => {
    const topic = await createTopic(url, 'once')
    const other = await createTopic(url, 'other')
    const x = await createExchange(url, 'topic')
    for (const key of ['a.*', '*.b', '#', 'a.b', 'a.#.b']) await bind(url, x, topic, key)
    await bind(url, x, other, 'a.b')
    const again = await json(`${url}/v1/exchanges/${x}/bindings`, 'POST', { topic, bindingKey: '#' })
    expect(again.status).toBe(200) // binding an existing pair again changes nothing
    expect(again.body.bindings).toHaveLength(6)
    const routed = await publish(url, x, [
      { routingKey: 'a.b', value: 'both' },
      { routingKey: 'z', value: 'hash-only' },
    ])
    expect(routed.map(byTopic)).toEqual([
      byTopic([
        { topic, partition: 0, offset: 0 },
        { topic: other, partition: 0, offset: 0 },
      ]),
      [{ topic, partition: 0, offset: 1 }],
    ])
    expect(await valuesOf(url, topic)).toEqual(['both', 'hash-only'])
    expect(await valuesOf(url, other)).toEqual(['both'])
  })

  it('stops routing through a removed binding; unbinding a missing binding is a no-op', async () => {
    const topic = await createTopic(url, 'unbind')
    const x = await createExchange(url, 'topic')
    await bind(url, x, topic, 'a.*')
    await bind(url, x, topic, 'b.*')
    const removed = await json(`${url}/v1/exchanges/${x}/bindings`, 'DELETE', { topic, bindingKey: 'a.*' })
    expect(removed.status).toBe(204)
    const missing = await json(`${url}/v1/exchanges/${x}/bindings`, 'DELETE', { topic, bindingKey: 'zzz' })
    expect(missing.status).toBe(204)
    expect((await describeExchange(x)).bindings).toEqual([{ topic, bindingKey: 'b.*' }])
    const routed = await publish(url, x, [
      { routingKey: 'a.1', value: 'gone' },
      { routingKey: 'b.1', value: 'kept' },
    ])
    expect(routed).toEqual([[], [{ topic, partition: 0, offset: 0 }]])
    expect(await valuesOf(url, topic)).toEqual(['kept'])
  })
})

describe('fanout exchange', () => {
  it('copies every record to every bound topic whatever its routing key', async () => {
    const topics = [
      await createTopic(url, 'fan'),
      await createTopic(url, 'fan'),
      await createTopic(url, 'fan', 3),
    ]
    const x = await createExchange(url, 'fanout')
    await bind(url, x, topics[0] as string)
    await bind(url, x, topics[1] as string, 'ignored.key')
    await bind(url, x, topics[2] as string, '#')
    // A fanout binding is one per topic: binding again with another key changes nothing.
    const again = await json(`${url}/v1/exchanges/${x}/bindings`, 'POST', {
      topic: topics[0],
      bindingKey: 'other',
    })
    expect(again.status).toBe(200)
    expect(again.body.bindings).toHaveLength(3)

    const records = [
      { routingKey: '', value: 'f0' },
      { routingKey: 'anything.at.all', value: 'f1' },
      { routingKey: 'ignored.key', key: 'k', value: 'f2' },
    ]
    const routed = await publish(url, x, records)
    for (const targets of routed) expect(targets.map((t) => t.topic).sort()).toEqual([...topics].sort())
    await expectConfirmsHold(routed, records)
    expect(await valuesOf(url, topics[0] as string)).toEqual(['f0', 'f1', 'f2'])
    expect(await valuesOf(url, topics[1] as string)).toEqual(['f0', 'f1', 'f2'])
    expect((await valuesOf(url, topics[2] as string)).sort()).toEqual(['f0', 'f1', 'f2'])

    // Unbinding a fanout topic needs no key.
    expect((await json(`${url}/v1/exchanges/${x}/bindings`, 'DELETE', { topic: topics[1] })).status).toBe(204)
    const after = await publish(url, x, [{ routingKey: 'x', value: 'f3' }])
    expect(after[0]?.map((t) => t.topic).sort()).toEqual([topics[0], topics[2]].sort())
    expect(await valuesOf(url, topics[1] as string)).toEqual(['f0', 'f1', 'f2'])
    expect(await valuesOf(url, topics[0] as string)).toEqual(['f0', 'f1', 'f2', 'f3'])
  })
})

describe('encodings', () => {
  it('stores a JSON publish exactly: keys, values, headers and $base64 bytes', async () => {
    const topic = await createTopic(url, 'json')
    const x = await createExchange(url, 'direct')
    await bind(url, x, topic, 'k')
    const routed = await publish(url, x, [
      {
        routingKey: 'k',
        key: 'key-1',
        value: { n: 1, s: 'one', list: [1, null, true] },
        headers: { h: 'x' },
      },
      { routingKey: 'k', value: { $base64: 'AAEC/w==' }, headers: { bin: { $base64: 'Bw==' } } },
    ])
    expect(routed).toEqual([[{ topic, partition: 0, offset: 0 }], [{ topic, partition: 0, offset: 1 }]])
    const [a, b] = await readTopic(url, topic)
    expect(a).toMatchObject({ offset: 0, key: 'key-1', value: { n: 1, s: 'one', list: [1, null, true] } })
    expect(a?.headers).toEqual({ h: 'x' })
    expect(typeof a?.timestamp).toBe('number')
    expect(b).toMatchObject({ offset: 1, key: null, value: { $base64: 'AAEC/w==' } })
    expect(b?.headers).toEqual({ bin: { $base64: 'Bw==' } })
  })

  it('stores a MessagePack publish exactly, types included, and answers in MessagePack', async () => {
    const a = await createTopic(url, 'mp')
    const b = await createTopic(url, 'mp')
    const x = await createExchange(url, 'topic')
    await bind(url, x, a, 'bytes.*')
    await bind(url, x, b, '#')
    const value = {
      bin: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      str: 'héllo',
      int: -42,
      big: 2 ** 40,
      f: 1.25,
    }
    const res = await mp(`${url}/v1/exchanges/${x}/records`, 'POST', {
      records: [
        { routingKey: 'bytes.1', key: Buffer.from('kb'), value, headers: { t: Buffer.from([7]), s: 'v' } },
      ],
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/vnd.msgpack')
    expect(byTopic(res.body.results[0].routed)).toEqual(
      byTopic([
        { topic: a, partition: 0, offset: 0 },
        { topic: b, partition: 0, offset: 0 },
      ]),
    )
    for (const topic of [a, b]) {
      const records = await readTopic(url, topic, 'msgpack')
      expect(records).toHaveLength(1)
      const rec = records[0] as (typeof records)[number] & {
        value: typeof value
        headers: Record<string, Uint8Array>
      }
      expect(Buffer.from(rec.key as Uint8Array).toString()).toBe('kb')
      expect(Buffer.from(rec.value.bin)).toEqual(value.bin)
      expect({ ...rec.value, bin: undefined }).toEqual({ ...value, bin: undefined })
      expect(Buffer.from(rec.headers.t as Uint8Array)).toEqual(Buffer.from([7]))
      expect(rec.headers.s).toBe('v')
    }
    // The same record in two topics carries the same timestamp.
    const [ra] = await readTopic(url, a)
    const [rb] = await readTopic(url, b)
    expect(ra?.timestamp).toBe(rb?.timestamp)
  })
})

describe('acks', () => {
  it('acks=1 confirms every copy with 200; acks=0 answers 202 and the records still land', async () => {
    const a = await createTopic(url, 'acks')
    const b = await createTopic(url, 'acks')
    const x = await createExchange(url, 'fanout')
    await bind(url, x, a)
    await bind(url, x, b)
    const one = await json(`${url}/v1/exchanges/${x}/records`, 'POST', {
      records: [{ routingKey: '', value: 'one' }],
      acks: 1,
    })
    expect(one.status).toBe(200)
    expect(byTopic(one.body.results[0].routed)).toEqual(
      byTopic([
        { topic: a, partition: 0, offset: 0 },
        { topic: b, partition: 0, offset: 0 },
      ]),
    )
    const zero = await json(`${url}/v1/exchanges/${x}/records`, 'POST', {
      records: [{ routingKey: '', value: 'zero' }],
      acks: 0,
    })
    expect(zero.status).toBe(202)
    for (const topic of [a, b]) {
      const res = await json(`${url}/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=5000`, 'GET')
      expect(res.body.records.map((r: { value: unknown }) => r.value)).toEqual(['zero'])
    }
  })

  it('acks=0 answers 202 before the write, as a produce with acks=0 does, and the records land', async () => {
    const a = await createTopic(url, 'acks0')
    const b = await createTopic(url, 'acks0')
    const x = await createExchange(url, 'topic')
    await bind(url, x, a, 'order.#')
    await bind(url, x, b, '*.eu.*')
    const res = await json(`${url}/v1/exchanges/${x}/records`, 'POST', {
      records: [
        { routingKey: 'order.eu.paid', key: 'k1', value: 'both' },
        { routingKey: 'order.us', value: 'only-a' },
        { routingKey: 'nowhere', value: 'dropped' },
      ],
      acks: 0,
    })
    expect(res.status).toBe(202)
    // No offsets: the answer went before the write (the produce route answers {offsets: [], durability: 'none'}).
    expect(res.body).toEqual({ results: [], durability: 'none' })
    // One publish is one batch per topic: a long poll that sees a record sees all of its topic's.
    const landed = async (topic: string) => {
      const read = await json(`${url}/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=5000`, 'GET')
      expect(read.status).toBe(200)
      return read.body.records.map((r: { offset: number; key: unknown; value: unknown }) => [
        r.offset,
        r.key,
        r.value,
      ])
    }
    expect(await landed(a)).toEqual([
      [0, 'k1', 'both'],
      [1, null, 'only-a'],
    ])
    expect(await landed(b)).toEqual([[0, 'k1', 'both']])
    // Each record is stamped once: its copies in both topics carry the same timestamp.
    const [ra] = await readTopic(url, a)
    const [rb] = await readTopic(url, b)
    expect(ra?.timestamp).toBe(rb?.timestamp)
  })
})

describe('unroutable records', () => {
  it('go to the alternate topic when the exchange has one, in publish order', async () => {
    const bound = await createTopic(url, 'bound')
    const alt = await createTopic(url, 'alt')
    const x = await createExchange(url, 'direct', alt)
    await bind(url, x, bound, 'k')
    const records = [
      { routingKey: 'miss-1', value: 'a0' },
      { routingKey: 'k', value: 'b0' },
      { routingKey: 'miss-2', value: 'a1' },
    ]
    const routed = await publish(url, x, records)
    expect(routed).toEqual([
      [{ topic: alt, partition: 0, offset: 0 }],
      [{ topic: bound, partition: 0, offset: 0 }],
      [{ topic: alt, partition: 0, offset: 1 }],
    ])
    await expectConfirmsHold(routed, records)
    expect(await valuesOf(url, alt)).toEqual(['a0', 'a1'])
    expect(await valuesOf(url, bound)).toEqual(['b0'])
    // The count is of records no binding matched, whether or not the alternate then took them.
    expect((await describeExchange(x)).stats).toEqual({ routed: 1, unroutable: 2 })
  })

  it('without an alternate topic are answered routed: [], written nowhere, and counted', async () => {
    const bound = await createTopic(url, 'bound')
    const bystander = await createTopic(url, 'bystander')
    const x = await createExchange(url, 'topic')
    await bind(url, x, bound, 'a.*')
    const only = await publish(url, x, [
      { routingKey: 'b.1', value: 1 },
      { routingKey: 'a', value: 2 },
    ])
    expect(only).toEqual([[], []])
    const mixed = await publish(url, x, [
      { routingKey: 'a.1', value: 3 },
      { routingKey: 'a.1.2', value: 4 },
    ])
    expect(mixed).toEqual([[{ topic: bound, partition: 0, offset: 0 }], []])
    expect(await valuesOf(url, bound)).toEqual([3])
    expect(await valuesOf(url, bystander)).toEqual([])
    const described = await describeExchange(x)
    expect(described.stats).toEqual({ routed: 1, unroutable: 3 })
    const listed = await json(`${url}/v1/exchanges`, 'GET')
    expect(listed.body.exchanges.find((e: { name: string }) => e.name === x).stats).toEqual({
      routed: 1,
      unroutable: 3,
    })
  })

  it('an exchange with no bindings at all routes everything nowhere (or to its alternate)', async () => {
    const alt = await createTopic(url, 'alt')
    const bare = await createExchange(url, 'fanout')
    expect(await publish(url, bare, [{ routingKey: 'x', value: 1 }])).toEqual([[]])
    const withAlt = await createExchange(url, 'fanout', alt)
    expect(await publish(url, withAlt, [{ routingKey: 'x', value: 1 }])).toEqual([
      [{ topic: alt, partition: 0, offset: 0 }],
    ])
  })
})

describe('deleting', () => {
  it("drops a deleted topic's bindings: describe shows none and publishes no longer go there", async () => {
    const doomed = await createTopic(url, 'doomed')
    const kept = await createTopic(url, 'kept')
    const fan = await createExchange(url, 'fanout')
    const direct = await createExchange(url, 'direct')
    const topic = await createExchange(url, 'topic')
    await bind(url, fan, doomed)
    await bind(url, fan, kept)
    await bind(url, direct, doomed, 'k')
    await bind(url, topic, doomed, '#')
    await bind(url, topic, kept, 'a.*')
    expect(await publish(url, fan, [{ routingKey: '', value: 'before' }])).toHaveLength(1)

    expect((await json(`${url}/v1/topics/${doomed}`, 'DELETE')).status).toBe(204)
    expect((await describeExchange(fan)).bindings).toEqual([{ topic: kept, bindingKey: '' }])
    expect((await describeExchange(direct)).bindings).toEqual([])
    expect((await describeExchange(topic)).bindings).toEqual([{ topic: kept, bindingKey: 'a.*' }])

    expect(await publish(url, fan, [{ routingKey: '', value: 'after' }])).toEqual([
      [{ topic: kept, partition: 0, offset: 1 }],
    ])
    expect(await publish(url, direct, [{ routingKey: 'k', value: 'after' }])).toEqual([[]])
    expect(await publish(url, topic, [{ routingKey: 'z', value: 'after' }])).toEqual([[]])

    // A new topic under the old name is a new log: no binding follows it there.
    const recreated = await json(`${url}/v1/topics`, 'POST', { name: doomed })
    expect(recreated.status).toBe(201)
    expect(await publish(url, direct, [{ routingKey: 'k', value: 'again' }])).toEqual([[]])
    expect(await valuesOf(url, doomed)).toEqual([])
    expect(await valuesOf(url, kept)).toEqual(['before', 'after'])
  })

  it('clears a deleted alternate topic, so unroutable records are then reported routed: []', async () => {
    const alt = await createTopic(url, 'alt')
    const x = await createExchange(url, 'direct', alt)
    expect(await publish(url, x, [{ routingKey: 'm', value: 1 }])).toEqual([
      [{ topic: alt, partition: 0, offset: 0 }],
    ])
    expect((await json(`${url}/v1/topics/${alt}`, 'DELETE')).status).toBe(204)
    expect((await describeExchange(x)).alternateTopic).toBeNull()
    expect(await publish(url, x, [{ routingKey: 'm', value: 2 }])).toEqual([[]])
  })

  it('deletes an exchange: 204, then 404 on describe and publish, and its topics keep their records', async () => {
    const topic = await createTopic(url, 'survivor')
    const x = await createExchange(url, 'fanout')
    await bind(url, x, topic)
    await publish(url, x, [{ routingKey: '', value: 'v' }])
    expect((await json(`${url}/v1/exchanges/${x}`, 'DELETE')).status).toBe(204)
    const gone = await json(`${url}/v1/exchanges/${x}`, 'GET')
    expect(gone.status).toBe(404)
    expect(gone.body.error.code).toBe('EXCHANGE_NOT_FOUND')
    const pub = await json(`${url}/v1/exchanges/${x}/records`, 'POST', {
      records: [{ routingKey: '', value: 1 }],
    })
    expect(pub.status).toBe(404)
    expect(pub.body.error.code).toBe('EXCHANGE_NOT_FOUND')
    const listed = await json(`${url}/v1/exchanges`, 'GET')
    expect(listed.body.exchanges.map((e: { name: string }) => e.name)).not.toContain(x)
    expect(await valuesOf(url, topic)).toEqual(['v'])
    // The name is free again.
    expect((await json(`${url}/v1/exchanges`, 'POST', { name: x, type: 'direct' })).status).toBe(201)
  })
})

describe('consumer groups', () => {
  interface Delivered {
    topic: string
    partition: number
    offset: number
    key: unknown
    value: unknown
  }
  const order = (a: Delivered, b: Delivered) =>
    `${a.topic}/${a.partition}/${String(a.offset).padStart(8, '0')}`.localeCompare(
      `${b.topic}/${b.partition}/${String(b.offset).padStart(8, '0')}`,
    )

  /** What a confirm says was written, as the records a group member should be handed. */
  const expectedDeliveries = (routed: Routed[][], records: Array<{ key?: unknown; value: unknown }>) =>
    routed
      .flatMap((targets, i) =>
        targets.map((at) => ({ ...at, key: records[i]?.key ?? null, value: records[i]?.value })),
      )
      .sort(order)

  /**
   * Joins a new group on the topics, reads and commits until `count` records came, leaves, and
   * returns what it was handed.
   */
  async function consumeWithGroup(topics: string[], count: number): Promise<Delivered[]> {
    const group = uniqueName('grp')
    const join = await json(`${url}/v1/groups/${group}/members`, 'POST', { topics })
    expect(join.status, JSON.stringify(join.body)).toBeLessThan(300)
    const { memberId } = join.body
    const partitions = await Promise.all(
      topics.map(async (t) => (await json(`${url}/v1/topics/${t}`, 'GET')).body.partitions.length as number),
    )
    expect(
      join.body.assignments
        .map((a: { topic: string; partition: number }) => `${a.topic}/${a.partition}`)
        .sort(),
    ).toEqual(
      topics.flatMap((t, i) => Array.from({ length: partitions[i] ?? 0 }, (_, p) => `${t}/${p}`)).sort(),
    )
    const got: Delivered[] = []
    const deadline = Date.now() + 20_000
    while (got.length < count && Date.now() < deadline) {
      const res = await json(
        `${url}/v1/groups/${group}/members/${memberId}/records?maxWaitMs=1000&maxRecords=100`,
        'GET',
      )
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const batch = res.body.records as Delivered[]
      for (const r of batch)
        got.push({ topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, value: r.value })
      if (batch.length === 0) continue
      // Commit the offset after the last record handed out from each partition.
      const next = new Map<string, Routed>()
      for (const r of batch)
        next.set(`${r.topic}/${r.partition}`, {
          topic: r.topic,
          partition: r.partition,
          offset: r.offset + 1,
        })
      const commit = await json(`${url}/v1/groups/${group}/offsets`, 'POST', {
        memberId,
        generation: res.body.generation,
        offsets: [...next.values()],
      })
      expect(commit.status, JSON.stringify(commit.body)).toBe(204)
    }
    // Nothing more arrives: the member got exactly what was routed, not a copy more.
    const more = await json(`${url}/v1/groups/${group}/members/${memberId}/records?maxWaitMs=300`, 'GET')
    expect(more.body.records).toEqual([])
    expect((await json(`${url}/v1/groups/${group}/members/${memberId}`, 'DELETE')).status).toBe(204)
    return got.sort(order)
  }

  it('direct: a member reads exactly the records routed to its topics', async () => {
    const hi = await createTopic(url, 'g-hi', 2)
    const lo = await createTopic(url, 'g-lo')
    const x = await createExchange(url, 'direct')
    await bind(url, x, hi, 'high')
    await bind(url, x, lo, 'low')
    await bind(url, x, lo, 'high')
    const records = [
      { routingKey: 'high', key: 'a', value: 'h1' },
      { routingKey: 'low', key: 'b', value: 'l1' },
      { routingKey: 'none', key: 'c', value: 'dropped' },
      { routingKey: 'high', key: 'd', value: 'h2' },
    ]
    const routed = await publish(url, x, records)
    const expected = expectedDeliveries(routed, records)
    expect(expected).toHaveLength(5)
    const got = await consumeWithGroup([hi, lo], expected.length)
    expect(got).toEqual(expected)
  })

  it('topic: a member reads exactly the records routed to its topics', async () => {
    const eu = await createTopic(url, 'g-eu', 2)
    const us = await createTopic(url, 'g-us')
    const x = await createExchange(url, 'topic')
    await bind(url, x, eu, 'orders.eu.*')
    await bind(url, x, us, 'orders.us.*')
    await bind(url, x, us, '*.us.#')
    const records = [
      { routingKey: 'orders.eu.created', key: 'o1', value: 'eu-1' },
      { routingKey: 'orders.us.created', key: 'o2', value: 'us-1' },
      { routingKey: 'orders.asia.created', key: 'o3', value: 'nowhere' },
      { routingKey: 'orders.eu.paid', key: 'o4', value: 'eu-2' },
    ]
    const routed = await publish(url, x, records)
    const expected = expectedDeliveries(routed, records)
    expect(expected).toHaveLength(3)
    const got = await consumeWithGroup([eu, us], expected.length)
    expect(got).toEqual(expected)
  })

  it('fanout: one group per bound topic, each reading every record', async () => {
    const mail = await createTopic(url, 'g-mail')
    const sms = await createTopic(url, 'g-sms', 3)
    const x = await createExchange(url, 'fanout')
    await bind(url, x, mail)
    await bind(url, x, sms)
    const records = [1, 2, 3, 4].map((n) => ({ routingKey: `any.${n}`, key: `u${n}`, value: { n } }))
    const routed = await publish(url, x, records)
    const expected = expectedDeliveries(routed, records)
    for (const topic of [mail, sms]) {
      const want = expected.filter((d) => d.topic === topic)
      expect(want).toHaveLength(4)
      const got = await consumeWithGroup([topic], want.length)
      expect(got).toEqual(want)
    }
  })
})
