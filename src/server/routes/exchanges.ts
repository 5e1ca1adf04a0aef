/**
 * Exchanges: RabbitMQ routing onto topics (API.md, "Exchanges").
 *
 * A publish routes each record by its routing key to the distinct topics its bindings name (or to
 * the alternate topic when none match), appends it to each with the requested acks, and answers
 * once every append is confirmed: the confirm covers every topic the record went to. Records for
 * one topic travel as one produce, so a publish of N records costs one batch per target topic.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Static } from 'typebox'
import type { Broker, ProduceRecord } from '../../broker/broker.js'
import type { ExchangeStore } from '../../broker/exchanges/index.js'
import { BindingBody, CreateExchangeBody, ExchangeParams, publishBody } from '../schemas/exchanges.js'
import { isJsonRequest, toProduceRecords } from './produce.js'

export interface PublishOutcome {
  results: Array<{ routed: Array<{ topic: string; partition: number; offset: number }> }>
  durability?: string
}

/** Routes and appends; `onUnroutable` counts records that went nowhere (metrics). */
export async function publish(
  broker: Broker,
  store: ExchangeStore,
  exchange: string,
  records: ReadonlyArray<ProduceRecord & { routingKey: string }>,
  acks: 0 | 1 | 'all',
  onUnroutable?: (exchange: string, count: number) => void,
): Promise<PublishOutcome> {
  const registry = store.registry
  const described = registry.get(exchange)
  const perTopic = new Map<string, { indexes: number[]; records: ProduceRecord[] }>()
  let unroutable = 0
  records.forEach((record, i) => {
    let topics = registry.route(exchange, record.routingKey)
    if (topics.length === 0 && described.alternateTopic) topics = [described.alternateTopic]
    if (topics.length === 0) unroutable++
    for (const topic of topics) {
      let group = perTopic.get(topic)
      if (!group) {
        group = { indexes: [], records: [] }
        perTopic.set(topic, group)
      }
      group.indexes.push(i)
      const { routingKey: _routingKey, ...plain } = record
      group.records.push(plain)
    }
  })
  if (unroutable > 0) onUnroutable?.(exchange, unroutable)
  const results: PublishOutcome['results'] = records.map(() => ({ routed: [] }))
  const confirms = await Promise.all(
    [...perTopic].map(async ([topic, group]) => ({
      topic,
      group,
      result: await broker.produce(topic, group.records, { acks }),
    })),
  )
  for (const { topic, group, result } of confirms) {
    group.indexes.forEach((recordIndex, k) => {
      const o = result.offsets[k]
      if (o) results[recordIndex]?.routed.push({ topic, partition: o.partition, offset: o.offset })
    })
  }
  return { results }
}

export async function exchangeRoutes(
  app: FastifyInstance,
  opts: { broker: Broker; store: ExchangeStore; onUnroutable?: (exchange: string, count: number) => void },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { broker, store } = opts
  const body = publishBody(broker.config.maxRecordsPerRequest)

  r.post('/v1/exchanges', { schema: { body: CreateExchangeBody } }, async (req, reply) =>
    reply.code(201).sendData(await store.create(req.body)),
  )
  r.get('/v1/exchanges', async (_req, reply) => reply.sendData({ exchanges: store.registry.list() }))
  r.get('/v1/exchanges/:exchange', { schema: { params: ExchangeParams } }, async (req, reply) =>
    reply.sendData(store.registry.get(req.params.exchange)),
  )
  r.delete('/v1/exchanges/:exchange', { schema: { params: ExchangeParams } }, async (req, reply) => {
    await store.delete(req.params.exchange)
    return reply.code(204).send()
  })
  r.post(
    '/v1/exchanges/:exchange/bindings',
    { schema: { params: ExchangeParams, body: BindingBody } },
    async (req, reply) => {
      // The registry checks the exchange, then the topic's name, then that the topic exists.
      const created = await store.bind(req.params.exchange, req.body)
      return reply.code(created ? 201 : 200).sendData(store.registry.get(req.params.exchange))
    },
  )
  r.delete(
    '/v1/exchanges/:exchange/bindings',
    { schema: { params: ExchangeParams, body: BindingBody } },
    async (req, reply) => {
      await store.unbind(req.params.exchange, req.body)
      return reply.code(204).send()
    },
  )
  r.post(
    '/v1/exchanges/:exchange/records',
    { schema: { params: ExchangeParams, body } },
    async (req, reply) => {
      const b = req.body as Static<typeof body>
      store.registry.get(req.params.exchange)
      const plain = toProduceRecords({ records: b.records }, isJsonRequest(req))
      const records = plain.map((record, i) => ({
        ...record,
        routingKey: (b.records[i] as { routingKey: string }).routingKey,
      }))
      const acks = b.acks ?? 'all'
      const outcome = await publish(broker, store, req.params.exchange, records, acks, opts.onUnroutable)
      return reply.code(acks === 0 ? 202 : 200).sendData(outcome)
    },
  )
}
