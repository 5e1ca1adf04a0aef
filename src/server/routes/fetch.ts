/** Fetch by offset with long polling, and offset lookups (API.md, "Fetch"). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Broker } from '../../broker/broker.js'
import { refuseInternalTopic } from '../internal-topics.js'
import { fetchQuery, OffsetsQuery, PartitionParams } from '../schemas/common.js'

/** An AbortSignal that fires when the client goes away, so its long poll stops waiting. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  // The response's 'close' fires once per request: after it finished, or when the socket died first.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return controller.signal
}

export async function fetchRoutes(app: FastifyInstance, opts: { broker: Broker }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { broker } = opts

  r.get(
    '/v1/topics/:topic/partitions/:partition/records',
    { schema: { params: PartitionParams, querystring: fetchQuery(broker.config.maxWaitMsLimit) } },
    async (req, reply) => {
      refuseInternalTopic(req.params.topic, 'topic')
      const q = req.query
      const result = await broker.fetch(req.params.topic, req.params.partition, {
        offset: q.offset,
        maxRecords: q.maxRecords ?? 500,
        maxBytes: q.maxBytes ?? 1024 * 1024,
        maxWaitMs: q.maxWaitMs ?? 0,
        signal: clientGone(reply),
      })
      return reply.sendMsgpackBytes(result.body)
    },
  )

  r.get(
    '/v1/topics/:topic/partitions/:partition/offsets',
    { schema: { params: PartitionParams, querystring: OffsetsQuery } },
    async (req, reply) => {
      refuseInternalTopic(req.params.topic, 'topic')
      const at = req.query.at ?? 'latest'
      const where = at === 'earliest' || at === 'latest' ? at : Number(at)
      return reply.sendData({
        offset: await broker.listOffset(req.params.topic, req.params.partition, where),
      })
    },
  )
}
