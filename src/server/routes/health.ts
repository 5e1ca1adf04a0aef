/** `/healthz`: the process serves. `/readyz`: recovery is done and writes are accepted. */
import type { FastifyInstance } from 'fastify'
import type { Broker } from '../../broker/broker.js'

/** Reasons the broker does not take writes right now (alarms plug in via `notReadyReasons`). */
export type ReadinessProbe = () => string[]

export async function healthRoutes(app: FastifyInstance, opts: { broker: Broker; probes: ReadinessProbe[] }) {
  app.get('/healthz', async (_req, reply) => reply.sendData({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const reasons = opts.broker.ready
      ? opts.probes.flatMap((probe) => probe())
      : ['recovering partition logs']
    if (reasons.length > 0) return reply.code(503).sendData({ status: 'not ready', reasons })
    return reply.sendData({ status: 'ready' })
  })
}
