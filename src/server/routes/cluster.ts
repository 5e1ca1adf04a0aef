/**
 * `GET /v1/cluster` (docs/http-api.md, "Cluster") → `{brokers: [{id, url, alive}], controller}`.
 * A single broker (no --etcd) describes itself: one live broker that is its own controller.
 *
 * `POST /v1/cluster/preferred-leader-election` with an optional `{topic?, partitions?}` →
 * `{elections: [{topic, partition, preferredLeader, leader, moved, reason?}]}`: each chosen
 * partition whose preferred replica (the first assigned) is alive and in sync but does not lead is
 * handed to it by its leader. A single broker leads everything it has: no elections.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Type } from 'typebox'
import type { Broker } from '../../broker/broker.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import type { CoordinatorHandoff } from '../../cluster/coordinator-handoff.js'

const PreferredElectionBody = Type.Object(
  {
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 249 })),
    partitions: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 1_000_000 }), { minItems: 1, maxItems: 10_000 }),
    ),
  },
  { additionalProperties: false },
)

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
}
