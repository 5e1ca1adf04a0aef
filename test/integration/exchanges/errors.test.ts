/**
 * The error contract of the exchange routes (docs/http-api.md, "Errors" and "Exchanges"), against a real
 * broker process: EXCHANGE_EXISTS 409, EXCHANGE_NOT_FOUND 404 on every per-exchange route (checked
 * before the body's topic), TOPIC_NOT_FOUND 404 for a binding or alternate topic that does not exist,
 * 400 INVALID_REQUEST for a bad type, a bad name, a missing or unknown field; and the rule that a
 * publish which fails writes nothing, in any of the topics it would have gone to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { jsonRequest as json, msgpackRequest as mp } from '../../helpers/http.js'
import { bind, createExchange, createTopic, uniqueName, valuesOf } from './exchange-helpers.js'

let broker: BrokerProcess
let url: string

beforeAll(async () => {
  broker = await startBroker({ args: ['--max-request-bytes', '262144', '--max-record-bytes', '65536'] })
  url = broker.url
})
afterAll(async () => {
  await broker?.stop()
})

const expectError = (res: { status: number; body: any }, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body.error.code).toBe(code)
  expect(typeof res.body.error.message).toBe('string')
}

describe('creating exchanges', () => {
  it('refuses a second exchange of the same name with 409 EXCHANGE_EXISTS, even of another type', async () => {
    const x = await createExchange(url, 'direct')
    expectError(
      await json(`${url}/v1/exchanges`, 'POST', { name: x, type: 'direct' }),
      409,
      'EXCHANGE_EXISTS',
    )
    expectError(await mp(`${url}/v1/exchanges`, 'POST', { name: x, type: 'fanout' }), 409, 'EXCHANGE_EXISTS')
    expect((await json(`${url}/v1/exchanges/${x}`, 'GET')).body.type).toBe('direct')
  })

  it.each(['headers', 'Direct', 'x-delayed', '', 7, null])('refuses the type %j with 400', async (type) => {
    const name = uniqueName('badtype')
    const res = await json(`${url}/v1/exchanges`, 'POST', { name, type })
    expectError(res, 400, 'INVALID_REQUEST')
    expect(res.body.error.message).toMatch(/type/)
    expectError(await json(`${url}/v1/exchanges/${name}`, 'GET'), 404, 'EXCHANGE_NOT_FOUND')
  })

  it('refuses a missing type or name with 400', async () => {
    expectError(
      await json(`${url}/v1/exchanges`, 'POST', { name: uniqueName('notype') }),
      400,
      'INVALID_REQUEST',
    )
    expectError(await json(`${url}/v1/exchanges`, 'POST', { type: 'topic' }), 400, 'INVALID_REQUEST')
  })

  it.each(['.', '..', 'a/b', 'sp ace', 'ünï', 'x'.repeat(250), '', 'a|b'])(
    'refuses the name %j with 400 INVALID_REQUEST',
    async (name) => {
      const res = await json(`${url}/v1/exchanges`, 'POST', { name, type: 'fanout' })
      expectError(res, 400, 'INVALID_REQUEST')
      expect(res.body.error.message).toMatch(/name/)
    },
  )

  it('refuses unknown fields with 400 naming the field', async () => {
    const res = await json(`${url}/v1/exchanges`, 'POST', {
      name: uniqueName('x'),
      type: 'topic',
      durable: true,
    })
    expectError(res, 400, 'INVALID_REQUEST')
    expect(res.body.error.message).toMatch(/durable/)
  })

  it('refuses an alternate topic that does not exist with 404 TOPIC_NOT_FOUND, and creates nothing', async () => {
    const name = uniqueName('x')
    const res = await json(`${url}/v1/exchanges`, 'POST', {
      name,
      type: 'direct',
      alternateTopic: uniqueName('none'),
    })
    expectError(res, 404, 'TOPIC_NOT_FOUND')
    expectError(await json(`${url}/v1/exchanges/${name}`, 'GET'), 404, 'EXCHANGE_NOT_FOUND')
  })
})

describe('unknown exchanges', () => {
  it('answers 404 EXCHANGE_NOT_FOUND on describe, delete, bind, unbind and publish', async () => {
    const topic = await createTopic(url)
    const x = uniqueName('missing')
    expectError(await json(`${url}/v1/exchanges/${x}`, 'GET'), 404, 'EXCHANGE_NOT_FOUND')
    expectError(await json(`${url}/v1/exchanges/${x}`, 'DELETE'), 404, 'EXCHANGE_NOT_FOUND')
    expectError(await json(`${url}/v1/exchanges/${x}/bindings`, 'POST', { topic }), 404, 'EXCHANGE_NOT_FOUND')
    expectError(
      await json(`${url}/v1/exchanges/${x}/bindings`, 'DELETE', { topic }),
      404,
      'EXCHANGE_NOT_FOUND',
    )
    expectError(
      await json(`${url}/v1/exchanges/${x}/records`, 'POST', { records: [{ routingKey: 'k', value: 1 }] }),
      404,
      'EXCHANGE_NOT_FOUND',
    )
  })

  it('names the exchange, not the topic, when both are missing', async () => {
    const res = await json(`${url}/v1/exchanges/${uniqueName('missing')}/bindings`, 'POST', {
      topic: uniqueName('missing-topic'),
    })
    expectError(res, 404, 'EXCHANGE_NOT_FOUND')
  })
})

describe('bindings', () => {
  it('refuses a binding to a topic that does not exist with 404 TOPIC_NOT_FOUND and binds nothing', async () => {
    const x = await createExchange(url, 'topic')
    expectError(
      await json(`${url}/v1/exchanges/${x}/bindings`, 'POST', { topic: uniqueName('none'), bindingKey: '#' }),
      404,
      'TOPIC_NOT_FOUND',
    )
    expect((await json(`${url}/v1/exchanges/${x}`, 'GET')).body.bindings).toEqual([])
  })

  it('refuses a binding topic that is not a topic name with 400', async () => {
    const x = await createExchange(url, 'direct')
    const res = await json(`${url}/v1/exchanges/${x}/bindings`, 'POST', { topic: 'a/b', bindingKey: 'k' })
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expect(['INVALID_REQUEST', 'INVALID_TOPIC_NAME']).toContain(res.body.error.code)
  })

  it('validates the binding body: missing topic, unknown field, a list for a key, an over-long key', async () => {
    const topic = await createTopic(url)
    const x = await createExchange(url, 'topic')
    const at = `${url}/v1/exchanges/${x}/bindings`
    expectError(await json(at, 'POST', { bindingKey: 'a' }), 400, 'INVALID_REQUEST')
    const unknown = await json(at, 'POST', { topic, routingKey: 'a' })
    expectError(unknown, 400, 'INVALID_REQUEST')
    expect(unknown.body.error.message).toMatch(/routingKey/)
    expectError(await json(at, 'POST', { topic, bindingKey: ['a', 'b'] }), 400, 'INVALID_REQUEST')
    expectError(await json(at, 'POST', { topic, bindingKey: 'w.'.repeat(200) }), 400, 'INVALID_REQUEST')
    expectError(await json(at, 'DELETE', { topic, extra: 1 }), 400, 'INVALID_REQUEST')
    expect((await json(`${url}/v1/exchanges/${x}`, 'GET')).body.bindings).toEqual([])
  })
})

describe('a failed publish writes nothing', () => {
  async function setup() {
    const a = await createTopic(url, 'a')
    const b = await createTopic(url, 'b', 2)
    const x = await createExchange(url, 'direct')
    await bind(url, x, a, 'to-a')
    await bind(url, x, b, 'to-b')
    await bind(url, x, a, 'to-both')
    await bind(url, x, b, 'to-both')
    return { a, b, x, at: `${url}/v1/exchanges/${x}/records` }
  }

  it('refuses a publish whose one record is too large, in none of its topics', async () => {
    const { a, b, x, at } = await setup()
    // Record 0 alone would fit topic a; record 2 is over --max-record-bytes and bound for topic b.
    const res = await json(at, 'POST', {
      records: [
        { routingKey: 'to-a', value: 'small' },
        { routingKey: 'to-both', value: 'small too' },
        { routingKey: 'to-b', value: 'y'.repeat(70_000) },
      ],
    })
    expectError(res, 413, 'PAYLOAD_TOO_LARGE')
    expect(res.body.error.details.index).toBe(2)
    expect(await valuesOf(url, a)).toEqual([])
    expect(await valuesOf(url, b)).toEqual([])
    // Counters count records published, so the refused request left them at zero.
    expect((await json(`${url}/v1/exchanges/${x}`, 'GET')).body.stats).toEqual({ routed: 0, unroutable: 0 })
    // The exchange still takes good publishes.
    const ok = await json(at, 'POST', { records: [{ routingKey: 'to-a', value: 'ok' }] })
    expect(ok.status).toBe(200)
    expect(ok.body.results).toEqual([{ routed: [{ topic: a, partition: 0, offset: 0 }] }])
  })

  it('refuses a whole body that is over the request limit', async () => {
    const { a, b, at } = await setup()
    const res = await json(at, 'POST', {
      records: Array.from({ length: 8 }, (_, i) => ({
        routingKey: 'to-both',
        value: `${i}${'z'.repeat(40_000)}`,
      })),
    })
    expectError(res, 413, 'PAYLOAD_TOO_LARGE')
    expect(await valuesOf(url, a)).toEqual([])
    expect(await valuesOf(url, b)).toEqual([])
  })

  it('refuses a publish with one invalid record and writes none of the others', async () => {
    const { a, b, at } = await setup()
    const good = { routingKey: 'to-both', value: 'ok' }
    const bad: Array<[string, unknown, RegExp]> = [
      [
        'header not a string',
        { records: [good, { routingKey: 'to-a', value: 1, headers: { h: 5 } }] },
        /headers/,
      ],
      ['missing routingKey', { records: [good, { value: 1 }] }, /routingKey/],
      ['missing value', { records: [good, { routingKey: 'to-a' }] }, /value/],
      [
        'record field partition',
        { records: [good, { routingKey: 'to-a', value: 1, partition: 0 }] },
        /partition/,
      ],
      ['unknown top-level field', { records: [good], producerId: 1 }, /producerId/],
      ['bad acks', { records: [good], acks: 2 }, /acks/],
      ['no records', { records: [] }, /records/],
      ['records not an array', { records: good }, /records/],
      ['routingKey over 255', { records: [good, { routingKey: 'k'.repeat(256), value: 1 }] }, /routingKey/],
    ]
    for (const [what, body, field] of bad) {
      const res = await json(at, 'POST', body)
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400)
      expect(res.body.error.code).toBe('INVALID_REQUEST')
      expect(res.body.error.message, what).toMatch(field)
    }
    expect(await valuesOf(url, a)).toEqual([])
    expect(await valuesOf(url, b)).toEqual([])
  })

  it('refuses a MessagePack record carrying an extension type, writing nothing', async () => {
    const { a, b, at } = await setup()
    // {records: [{routingKey: "to-both", value: <fixext1 type 5>}]} by hand: msgpackr would not encode it.
    const body = Buffer.concat([
      Buffer.from([0x81, 0xa7]),
      Buffer.from('records'),
      Buffer.from([0x91, 0x82, 0xaa]),
      Buffer.from('routingKey'),
      Buffer.from([0xa7]),
      Buffer.from('to-both'),
      Buffer.from([0xa5]),
      Buffer.from('value'),
      Buffer.from([0xd4, 0x05, 0x01]),
    ])
    const res = await fetch(at, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.msgpack', accept: 'application/json' },
      body,
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST')
    expect(await valuesOf(url, a)).toEqual([])
    expect(await valuesOf(url, b)).toEqual([])
  })
})
