/**
 * `GET /v1/cluster` (docs/http-api.md, "Cluster") → `{brokers: [{id, url, alive}], controller}`.
 * A single broker (no --etcd) describes itself: one live broker that is its own controller.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Broker } from '../../broker/broker.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import type { CoordinatorHandoff } from '../../cluster/coordinator-handoff.js'

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
}

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
