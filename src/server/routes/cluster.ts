/**
 * `GET /v1/cluster` (API.md, "Cluster") → `{brokers: [{id, url, alive}], controller}`.
 * A single broker (no --etcd) describes itself: one live broker that is its own controller.
 */
import type { FastifyInstance } from 'fastify'
import type { Broker } from '../../broker/broker.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'

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
