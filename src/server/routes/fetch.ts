/**
 * Fetch by offset with long polling, and offset lookups (docs/http-api.md, "Fetch"). Also the parts every
 * fetch shares with the group fetch: the client-gone signal, the JSON reader's byte cap, and the
 * share of the broker's fetch budget a response holds until it is sent.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Broker } from '../../broker/broker.js'
import type { FetchBudget, FetchBudgetHold } from '../../broker/fetch-budget.js'
import { refuseInternalTopic } from '../../broker/internal-topics.js'
import type { BrokerConfig } from '../../config/schema.js'
import { renderMsgpackBytes } from '../plugins/msgpack-codec.js'
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

/**
 * The record bytes this reader may get: JSON rendering is synchronous and several times the
 * MessagePack size, so a JSON reader gets at most `maxJsonFetchBytes` (it reads on from nextOffset).
 */
export function fetchByteLimit(reply: FastifyReply, maxBytes: number, config: BrokerConfig): number {
  return reply.request.wantsMsgpack ? maxBytes : Math.min(maxBytes, config.maxJsonFetchBytes)
}

/** The request's share of the fetch budget, given back when the response is sent or the client is gone. */
export function budgetHold(reply: FastifyReply, budget: FetchBudget): FetchBudgetHold {
  const hold = budget.hold()
  reply.raw.once('close', () => hold.release())
  return hold
}

/** Sends a fetch body, holding the rendered size in the budget until it is sent. */
export function sendFetchBody(reply: FastifyReply, bytes: Buffer, hold: FetchBudgetHold): FastifyReply {
  const { type, body } = renderMsgpackBytes(reply.request.wantsMsgpack, bytes)
  hold.resize(typeof body === 'string' ? Buffer.byteLength(body) : body.length)
  return reply.type(type).send(body)
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
      const hold = budgetHold(reply, broker.fetchBudget)
      const result = await broker.fetch(req.params.topic, req.params.partition, {
        offset: q.offset,
        maxRecords: q.maxRecords ?? 500,
        maxBytes: fetchByteLimit(reply, q.maxBytes ?? 1024 * 1024, broker.config),
        maxWaitMs: q.maxWaitMs ?? 0,
        signal: clientGone(reply),
        budget: hold,
      })
      return sendFetchBody(reply, result.body, hold)
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
