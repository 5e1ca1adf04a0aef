/**
 * Exchanges: RabbitMQ routing onto topics (docs/http-api.md, "Exchanges").
 *
 * A publish routes each record by its routing key to the distinct topics its bindings name (or to
 * the alternate topic when none match), appends it to each with the requested acks, and answers
 * once every append is confirmed: the confirm covers every topic the record went to. Records for
 * one topic travel as one produce, so a publish of N records costs one batch per target topic.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Static } from 'typebox'
import type { Broker, ProduceRecord, ProduceResult } from '../../broker/broker.js'
import type { ExchangeBackend } from '../../broker/exchanges/index.js'
import { refuseInternalTopic } from '../../broker/internal-topics.js'
import type { LeaderWriter } from '../../cluster/leader-writer.js'
import { PayloadTooLargeError } from '../../errors.js'
import { encodeRecordBody } from '../../wire/record-codec.js'
import { BindingBody, CreateExchangeBody, ExchangeParams, publishBody } from '../schemas/exchanges.js'
import { isJsonRequest, toProduceRecords } from './produce.js'

export interface PublishOutcome {
  results: Array<{ routed: Array<{ topic: string; partition: number; offset: number }> }>
  durability?: string
}

type TopicGroup = { indexes: number[]; records: ProduceRecord[] }

/**
 * Checks what one topic's share of a publish needs before any write, and returns the write; a
 * cluster broker sends the partitions other brokers lead to them (cluster/leader-writer.ts).
 */
export type PrepareTopicWrite = (
  topic: string,
  records: ProduceRecord[],
  acks: 0 | 1 | 'all',
) => () => Promise<ProduceResult>

/**
 * A publish that fails must write nothing (docs/http-api.md, "Errors"). `broker.produce` checks all of one
 * topic's records before appending any, but a publish is one produce per target topic, so a record
 * over the size limit, or a topic deleted since it was bound, would fail one produce after the
 * others had appended. Both are checked here for the whole publish, before the first append, and a
 * too-large record is named by its index in the publish (a produce knows only its index in its
 * topic's share). Backpressure and offline partitions are still checked per produce, in the broker.
 */
function checkPublishable(broker: Broker, perTopic: ReadonlyMap<string, TopicGroup>, count: number): void {
  const [only] = perTopic.values()
  if (perTopic.size === 0 || (perTopic.size === 1 && only?.indexes.length === count)) return
  for (const topic of perTopic.keys()) broker.topics.get(topic)
  const limit = broker.config.maxRecordBytes
  const checked = new Set<number>()
  for (const group of perTopic.values()) {
    group.indexes.forEach((index, k) => {
      if (checked.has(index)) return
      checked.add(index)
      const bytes = encodeRecordBody(group.records[k] as ProduceRecord, 0).length
      if (bytes > limit) {
        throw new PayloadTooLargeError(`record ${index} is ${bytes} bytes encoded; the limit is ${limit}`, {
          index,
          bytes,
          limit,
        })
      }
    })
  }
}

/**
 * Routes and appends; `onUnroutable` counts records no binding matched (metrics). Each record is
 * stamped once, so its copies in several topics carry the same timestamp, and the exchange's stats
 * count a publish only once it is written.
 */
export async function publish(
  broker: Broker,
  store: ExchangeBackend,
  exchange: string,
  records: ReadonlyArray<ProduceRecord & { routingKey: string }>,
  acks: 0 | 1 | 'all',
  onUnroutable?: (exchange: string, count: number) => void,
  prepare: PrepareTopicWrite = (topic, share) => () => broker.produce(topic, share, { acks }),
): Promise<PublishOutcome> {
  const registry = store.registry
  const described = registry.get(exchange)
  const perTopic = new Map<string, TopicGroup>()
  const now = Date.now()
  let unroutable = 0
  records.forEach((record, i) => {
    let topics = registry.match(exchange, record.routingKey)
    if (topics.length === 0) {
      unroutable++
      if (described.alternateTopic) topics = [described.alternateTopic]
    }
    const { routingKey: _routingKey, ...fields } = record
    const plain: ProduceRecord = { ...fields, timestamp: fields.timestamp ?? now }
    for (const topic of topics) {
      let group = perTopic.get(topic)
      if (!group) {
        group = { indexes: [], records: [] }
        perTopic.set(topic, group)
      }
      group.indexes.push(i)
      group.records.push(plain)
    }
  })
  // Bindings and alternate topics naming internal topics are refused when made; one made before
  // that rule must not let a publish write there either.
  for (const topic of perTopic.keys()) refuseInternalTopic(topic, 'a binding of the exchange')
  checkPublishable(broker, perTopic, records.length)
  const writes = [...perTopic].map(([topic, group]) => ({
    topic,
    group,
    write: prepare(topic, group.records, acks),
  }))
  const results: PublishOutcome['results'] = records.map(() => ({ routed: [] }))
  const confirms = await Promise.all(
    writes.map(async ({ topic, group, write }) => ({ topic, group, result: await write() })),
  )
  for (const { topic, group, result } of confirms) {
    group.indexes.forEach((recordIndex, k) => {
      const o = result.offsets[k]
      if (o) results[recordIndex]?.routed.push({ topic, partition: o.partition, offset: o.offset })
    })
  }
  // The exchange may have been deleted while the appends were in flight; the records are written.
  if (registry.has(exchange)) registry.count(exchange, records.length - unroutable, unroutable)
  if (unroutable > 0) onUnroutable?.(exchange, unroutable)
  return { results }
}

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
  const prepare: PrepareTopicWrite | undefined = writer && ((...args) => writer.prepare(...args))
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
      const outcome = await publish(
        broker,
        store,
        req.params.exchange,
        records,
        acks,
        opts.onUnroutable,
        prepare,
      )
      return reply.code(acks === 0 ? 202 : 200).sendData(outcome)
    },
  )
}
