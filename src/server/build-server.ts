/**
 * Builds the fastify app around a broker, without listening, so tests can `inject()`.
 *
 * Limits live here: the body limit is --max-request-bytes (413 past it), `requestTimeout` is set
 * because fastify's default of 0 lets a client trickling a body hold a socket forever, and ajv
 * rejects unknown fields instead of silently dropping them (a typo like `ack` must not be ignored).
 */
import Fastify, { type FastifyInstance, LogController } from 'fastify'
import { type AuthPluginOptions, authPlugin } from '../auth/auth-plugin.js'
import type { ResourceAlarms } from '../broker/alarms.js'
import type { Broker } from '../broker/broker.js'
import type { BrokerMetrics } from '../metrics/broker-metrics.js'
import { errorHandler } from './plugins/error-handler.js'
import { loadShedding } from './plugins/load-shedding.js'
import { metricsPlugin } from './plugins/metrics.js'
import { msgpackCodec } from './plugins/msgpack-codec.js'
import { consoleRoutes } from './routes/console.js'
import { fetchRoutes } from './routes/fetch.js'
import { healthRoutes, type ReadinessProbe } from './routes/health.js'
import { produceRoutes } from './routes/produce.js'
import { topicRoutes } from './routes/topics.js'

export interface BuildServerOptions {
  broker: Broker
  logger?: boolean | { level: string }
  readinessProbes?: ReadinessProbe[]
  /** GET /metrics and per-request observations (registered before the routes so it sees them all). */
  metrics?: BrokerMetrics
  /** Resource alarms: produce is shed at onRequest while one is set. */
  alarms?: ResourceAlarms
  /** More routes (groups, exchanges, metrics, cluster), registered after the core ones. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
  /** Credentials and ACLs on every route (registered first, so that its hooks cover them all). */
  auth?: AuthPluginOptions
}

export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const { config } = opts.broker
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: config.maxRequestBytes,
    requestTimeout: config.requestTimeoutMs,
    // No log line per request: at tens of thousands of requests a second it would be the bottleneck.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  })
  await app.register(errorHandler)
  await app.register(msgpackCodec)
  await app.register(
    authPlugin,
    opts.auth ?? { enabled: false, acls: () => [], context: { memberTopics: () => [] }, metricsOpen: true },
  )
  if (opts.metrics) await app.register(metricsPlugin, { metrics: opts.metrics, broker: opts.broker })
  if (opts.alarms) await app.register(loadShedding, { alarms: opts.alarms })
  await app.register(healthRoutes, { broker: opts.broker, probes: opts.readinessProbes ?? [] })
  await app.register(topicRoutes, { broker: opts.broker })
  await app.register(produceRoutes, { broker: opts.broker })
  await app.register(fetchRoutes, { broker: opts.broker })
  await app.register(consoleRoutes)
  for (const plugin of opts.plugins ?? []) await app.register(plugin)
  return app
}
