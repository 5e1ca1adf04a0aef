/**
 * Sheds produce load at the door while a resource alarm is set (RabbitMQ blocks publishing
 * connections; fastify/under-pressure answers 503 before doing the work).
 *
 * The broker's produce admission is the authoritative check (it also covers produce that does not
 * come over HTTP). This hook only answers earlier: in onRequest, before a body of up to
 * --max-request-bytes is read and decoded, which is exactly the memory a broker past its high
 * watermark must not spend. Fetch, offsets, group commits and admin routes are never shed.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { ResourceAlarms } from '../../broker/alarms.js'

/** Routes that append records: topic produce (both forms) and exchange publish. */
const PUBLISH_ROUTE = /^\/v1\/(topics\/:topic(\/partitions\/:partition)?|exchanges\/:[A-Za-z]+)\/records$/

export function isPublishRequest(request: FastifyRequest): boolean {
  return request.method === 'POST' && PUBLISH_ROUTE.test(request.routeOptions.url ?? '')
}

export const loadShedding = fp(
  async (app: FastifyInstance, opts: { alarms: ResourceAlarms }) => {
    const { alarms } = opts
    app.addHook('onRequest', (request, _reply, done) => {
      if (!alarms.active || !isPublishRequest(request)) return done()
      let refused: Error | undefined
      try {
        alarms.admit((request.params as { topic?: string }).topic ?? '')
      } catch (err) {
        refused = err as Error
      }
      done(refused)
    })
  },
  { name: 'strata-load-shedding' },
)
