/** Topic administration: create, list, describe, delete (docs/http-api.md, "Topics"). */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Broker } from '../../broker/broker.js'
import { refuseInternalTopic } from '../../broker/internal-topics.js'
import { CreateTopicBody, TopicParams } from '../schemas/common.js'

export async function topicRoutes(app: FastifyInstance, opts: { broker: Broker }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { broker } = opts

  r.post('/v1/topics', { schema: { body: CreateTopicBody } }, async (req, reply) => {
    const topic = await broker.createTopic(req.body)
    return reply.code(201).sendData(topic)
  })

  r.get('/v1/topics', async (req, reply) =>
    reply.sendData({ topics: broker.listTopics().filter((t) => req.mayDescribe('topic', t.name)) }),
  )

  r.get('/v1/topics/:topic', { schema: { params: TopicParams } }, async (req, reply) =>
    reply.sendData(broker.describeTopic(req.params.topic)),
  )

  r.delete('/v1/topics/:topic', { schema: { params: TopicParams } }, async (req, reply) => {
    refuseInternalTopic(req.params.topic, 'topic')
    await broker.deleteTopic(req.params.topic)
    return reply.code(204).send()
  })
}
