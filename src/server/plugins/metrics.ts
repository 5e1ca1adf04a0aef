/**
 * `GET /metrics` in Prometheus text format, and the per-request observations: latency by route
 * pattern (never by raw URL, which would make one series per topic and offset) and produce/fetch
 * requests by topic. Registered before the routes so its onResponse hook sees all of them.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Broker } from '../../broker/broker.js'
import type { BrokerMetrics } from '../../metrics/broker-metrics.js'
import { isPublishRequest } from './load-shedding.js'

const FETCH_ROUTE = '/v1/topics/:topic/partitions/:partition/records'

export const metricsPlugin = fp(
  async (app: FastifyInstance, opts: { metrics: BrokerMetrics; broker: Broker }) => {
    const { metrics, broker } = opts
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.observeHttp(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
      const topic = (request.params as { topic?: unknown } | undefined)?.topic
      // Only existing topics get a label, so requests to made-up names cannot grow the series.
      if (typeof topic === 'string' && broker.topics.has(topic)) {
        if (isPublishRequest(request)) metrics.produceRequests.inc({ topic })
        else if (request.method === 'GET' && route === FETCH_ROUTE) metrics.fetchRequests.inc({ topic })
      }
      done()
    })
    app.get('/metrics', async (_request, reply) => {
      const text = await metrics.render()
      return reply.type(metrics.contentType).send(text)
    })
  },
  { name: 'strata-metrics' },
)
