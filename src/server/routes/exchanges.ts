/**
 * Exchanges: RabbitMQ routing onto topics (docs/http-api.md, "Exchanges"). Publishing itself is
 * broker/exchanges/exchange-publisher.ts; these routes parse, call and render.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Static } from 'typebox'
import type { Broker } from '../../broker/broker.js'
import { type ExchangeBackend, type PrepareTopicWrite, publish } from '../../broker/exchanges/index.js'
import { refuseInternalTopic } from '../../broker/internal-topics.js'
import type { LeaderWriter } from '../../cluster/leader-writer.js'
import { BindingBody, CreateExchangeBody, ExchangeParams, publishBody } from '../schemas/exchanges.js'
import { isJsonRequest, toProduceRecords } from './produce.js'

export async function exchangeRoutes(
  app: FastifyInstance,
  opts: {
    broker: Broker
    store: ExchangeBackend
    /** Cluster mode: publishes write on partition leaders, which may be other brokers. */
    writer?: LeaderWriter
    onUnroutable?: (exchange: string, count: number) => void
  },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { broker, store, writer } = opts
  const prepare: PrepareTopicWrite | undefined =
    writer && ((topic, records, acks, encoded) => writer.prepare(topic, records, acks, encoded))
  app.addHook('onClose', async () => {
    await store.close()
    await writer?.close()
  })
  const body = publishBody(broker.config.maxRecordsPerRequest)

  r.post('/v1/exchanges', { schema: { body: CreateExchangeBody } }, async (req, reply) => {
    if (req.body.alternateTopic) refuseInternalTopic(req.body.alternateTopic, 'alternateTopic')
    return reply.code(201).sendData(await store.create(req.body))
  })
  r.get('/v1/exchanges', async (req, reply) =>
    reply.sendData({ exchanges: store.registry.list().filter((e) => req.mayDescribe('exchange', e.name)) }),
  )
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
      refuseInternalTopic(req.body.topic, 'topic')
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
      const outcome = await publish(broker, store, req.params.exchange, records, {
        acks,
        prepare,
        onUnroutable: opts.onUnroutable,
        onUnconfirmedFailure: (err, exchange) => req.log.warn({ err, exchange }, 'acks=0 publish failed'),
      })
      return reply.code(acks === 0 ? 202 : 200).sendData(outcome)
    },
  )
}
