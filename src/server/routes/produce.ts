/**
 * Produce with publisher confirms (docs/http-api.md, "Produce"). The answer carries one offset per record
 * in request order and the durability actually reached. acks=0 answers 202 before the write.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Static } from 'typebox'
import type { Broker, ProduceRecord } from '../../broker/broker.js'
import { refuseInternalTopic } from '../../broker/internal-topics.js'
import { InvalidRequestError } from '../../errors.js'
import { fromJsonValue } from '../../wire/record-codec.js'
import { PartitionParams, produceBody, TopicParams } from '../schemas/common.js'

type ProduceBody = Static<ReturnType<typeof produceBody>>

/**
 * msgpackr decodes some extension types into Set, Map, RegExp or Error objects, which would be
 * stored re-encoded in a shape the sender never sent. Only plain values, bytes and the standard
 * timestamp extension (Date) are records' values; anything else is refused at the edge.
 */
function checkPlainValue(value: unknown, field: string): void {
  if (value === null || typeof value !== 'object') return
  if (value instanceof Uint8Array || value instanceof Date) return
  const proto = Object.getPrototypeOf(value)
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkPlainValue(v, `${field}/${i}`)
    return
  }
  if (proto !== Object.prototype && proto !== null) {
    throw new InvalidRequestError(`${field} holds a MessagePack extension type that records cannot carry`, {
      field,
    })
  }
  for (const [k, v] of Object.entries(value)) checkPlainValue(v, `${field}/${k}`)
}

/** Turns validated wire records into broker records: JSON `$base64` to bytes, header values checked. */
export function toProduceRecords(body: Pick<ProduceBody, 'records'>, fromJson: boolean): ProduceRecord[] {
  return body.records.map((r, i) => {
    if (!fromJson) {
      checkPlainValue(r.key, `records/${i}/key`)
      checkPlainValue(r.value, `records/${i}/value`)
    }
    const headers = r.headers as Record<string, unknown> | undefined
    if (headers) {
      for (const [name, v] of Object.entries(headers)) {
        const value = fromJson ? fromJsonValue(v) : v
        if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
          throw new InvalidRequestError(`records[${i}].headers.${name} must be a string or bytes`, {
            field: `records/${i}/headers/${name}`,
          })
        }
        headers[name] = value
      }
    }
    return {
      key: fromJson ? fromJsonValue(r.key) : r.key,
      value: fromJson ? fromJsonValue(r.value) : r.value,
      headers: headers as ProduceRecord['headers'],
      timestamp: r.timestamp,
      partition: r.partition,
    }
  })
}

export function isJsonRequest(req: FastifyRequest): boolean {
  return !String(req.headers['content-type'] ?? '').includes('msgpack')
}

export async function produceRoutes(app: FastifyInstance, opts: { broker: Broker }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { broker } = opts
  const body = produceBody(broker.config.maxRecordsPerRequest)

  const prepare = (req: FastifyRequest, partition: number | undefined, b: ProduceBody) => {
    if ((b.producerId === undefined) !== (b.sequence === undefined)) {
      throw new InvalidRequestError('producerId and sequence go together', { field: 'sequence' })
    }
    const records = toProduceRecords(b, isJsonRequest(req))
    const acks = b.acks ?? 'all'
    return { records, options: { acks, producerId: b.producerId, sequence: b.sequence, partition } }
  }

  const produce = async (
    req: FastifyRequest,
    topic: string,
    partition: number | undefined,
    b: ProduceBody,
  ) => {
    refuseInternalTopic(topic, 'topic')
    const { records, options } = prepare(req, partition, b)
    if (options.acks === 0) {
      // Validate placement synchronously enough to fail fast on unknown topics, then answer first.
      broker.topics.get(topic)
      broker
        .produce(topic, records, options)
        .catch((err) => req.log.warn({ err, topic }, 'acks=0 produce failed'))
      return { status: 202, result: { offsets: [], durability: 'none' } }
    }
    return { status: 200, result: await broker.produce(topic, records, options) }
  }

  r.post('/v1/topics/:topic/records', { schema: { params: TopicParams, body } }, async (req, reply) => {
    const { status, result } = await produce(req, req.params.topic, undefined, req.body)
    return reply.code(status).sendData(result)
  })

  r.post(
    '/v1/topics/:topic/partitions/:partition/records',
    { schema: { params: PartitionParams, body } },
    async (req, reply) => {
      const { status, result } = await produce(req, req.params.topic, req.params.partition, req.body)
      return reply.code(status).sendData(result)
    },
  )
}
