/**
 * `GET /v1/cluster` (docs/http-api.md, "Cluster") → `{brokers: [{id, url, alive}], controller}`.
 * A single broker (no --etcd) describes itself: one live broker that is its own controller.
 *
 * `POST /v1/cluster/preferred-leader-election` with an optional `{topic?, partitions?}` →
 * `{elections: [{topic, partition, preferredLeader, leader, moved, reason?}]}`: each chosen
 * partition whose preferred replica (the first assigned) is alive and in sync but does not lead is
 * handed to it by its leader. A single broker leads everything it has: no elections.
 *
 * Partition reassignment (Kafka's kafka-reassign-partitions; cluster/reassignment.ts):
 * `POST /v1/cluster/reassignments` `{partitions: [{topic, partition, replicas}], throttleBytesPerSec?}`
 * starts moving each partition to its new replica list (all or none; a partition already on that
 * list is left out) → `{reassignments: [status]}`; `GET /v1/cluster/reassignments` lists those under
 * way; `DELETE /v1/cluster/reassignments/:topic/:partition` cancels one (back to its old replicas).
 * A single broker holds every partition itself: the only replica list it takes is its own id.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Type } from 'typebox'
import type { Broker } from '../../broker/broker.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import type { CoordinatorHandoff } from '../../cluster/coordinator-handoff.js'
import { MAX_REASSIGNMENTS_PER_REQUEST } from '../../cluster/reassignment-requests.js'
import { InvalidRequestError, NotFoundError } from '../../errors.js'

const PreferredElectionBody = Type.Object(
  {
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 249 })),
    partitions: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 1_000_000 }), { minItems: 1, maxItems: 10_000 }),
    ),
  },
  { additionalProperties: false },
)

const BrokerId = Type.Integer({ minimum: 0, maximum: 999_999_999 })

const ReassignmentBody = Type.Object(
  {
    partitions: Type.Array(
      Type.Object(
        {
          topic: Type.String({ minLength: 1, maxLength: 249 }),
          partition: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
          replicas: Type.Array(BrokerId, { minItems: 1, maxItems: 100 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_REASSIGNMENTS_PER_REQUEST },
    ),
    throttleBytesPerSec: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1_000_000_000_000 })),
  },
  { additionalProperties: false },
)

const ReassignmentParams = Type.Object({
  topic: Type.String({ minLength: 1, maxLength: 249 }),
  partition: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
})

/**
 * Cluster mode: every `/v1/groups/:group/...` request is checked against the group's coordinator
 * before its handler runs (NOT_LEADER naming the coordinator, or NOT_READY while it loads).
 * Registered without encapsulation, ahead of the group routes, so that the hook covers them.
 */
export const groupCoordinatorGate = (handoff: CoordinatorHandoff) =>
  fp(async (app: FastifyInstance) => {
    app.addHook('preHandler', async (req: FastifyRequest) => {
      if (!req.routeOptions.url?.startsWith('/v1/groups/:group')) return
      const group = (req.params as { group?: unknown }).group
      if (typeof group === 'string') handoff.check(group)
    })
  })

export async function clusterRoutes(
  app: FastifyInstance,
  opts: { broker: Broker; node?: ClusterNode | undefined },
) {
  app.get('/v1/cluster', async (req, reply) => {
    if (opts.node) return reply.sendData(opts.node.describe())
    const id = opts.broker.config.brokerId
    const url = opts.broker.config.advertiseUrl || `${req.protocol}://${req.host}`
    return reply.sendData({ brokers: [{ id, url, alive: true }], controller: id })
  })

  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .post(
      '/v1/cluster/preferred-leader-election',
      { schema: { body: Type.Optional(PreferredElectionBody) } },
      async (req, reply) => {
        const body = req.body ?? {}
        const elections = opts.node
          ? await opts.node.electPreferredLeaders({
              ...(body.topic !== undefined && { topic: body.topic }),
              ...(body.partitions !== undefined && { partitions: body.partitions }),
            })
          : []
        return reply.sendData({ elections })
      },
    )

  app.get('/v1/cluster/reassignments', async (_req, reply) =>
    reply.sendData({ reassignments: opts.node?.listReassignments() ?? [] }),
  )

  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .post('/v1/cluster/reassignments', { schema: { body: ReassignmentBody } }, async (req, reply) => {
      const { partitions, throttleBytesPerSec } = req.body
      if (opts.node) {
        const reassignments = await opts.node.reassignPartitions(partitions, throttleBytesPerSec)
        return reply.sendData({ reassignments })
      }
      const me = opts.broker.config.brokerId
      for (const { topic, partition, replicas } of partitions) {
        opts.broker.partitionState(topic, partition)
        if (replicas.length !== 1 || replicas[0] !== me) {
          throw new InvalidRequestError(
            `a single broker (no --etcd) holds every partition itself: the only replica list is [${me}]`,
            { topic, partition, replicas },
          )
        }
      }
      return reply.sendData({ reassignments: [] })
    })

  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .delete(
      '/v1/cluster/reassignments/:topic/:partition',
      { schema: { params: ReassignmentParams } },
      async (req, reply) => {
        const { topic, partition } = req.params
        if (opts.node) return reply.sendData(await opts.node.cancelReassignment(topic, partition))
        opts.broker.partitionState(topic, partition)
        throw new NotFoundError(`no reassignment of ${topic}/${partition} is running`, { topic, partition })
      },
    )
}
