/**
 * Builds the fastify app around a broker, without listening, so tests can `inject()`.
 *
 * Limits live here: the body limit is --max-request-bytes (413 past it), `requestTimeout` is set
 * because fastify's default of 0 lets a client trickling a body hold a socket forever, and ajv
 * rejects unknown fields instead of silently dropping them (a typo like `ack` must not be ignored).
 * Bodies are validated without type coercion (validation.ts). Path parameters may be as long as any
 * name (MAX_PARAM_LENGTH); every answer fastify or node would write itself is the error envelope.
 */
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import Fastify, { type FastifyInstance, LogController } from 'fastify'
import { type AuthPluginOptions, authPlugin } from '../auth/auth-plugin.js'
import type { ResourceAlarms } from '../broker/alarms.js'
import type { Broker } from '../broker/broker.js'
import type { BrokerMetrics } from '../metrics/broker-metrics.js'
import { openApiPlugin } from './openapi/openapi-plugin.js'
import {
  clientErrorHandler,
  errorHandler,
  frameworkErrors,
  MAX_PARAM_LENGTH,
} from './plugins/error-handler.js'
import { loadShedding } from './plugins/load-shedding.js'
import { metricsPlugin } from './plugins/metrics.js'
import { msgpackCodec } from './plugins/msgpack-codec.js'
import { startupGate } from './plugins/startup-gate.js'
import { consoleRoutes } from './routes/console.js'
import { fetchRoutes } from './routes/fetch.js'
import { healthRoutes, type ReadinessProbe } from './routes/health.js'
import { produceRoutes } from './routes/produce.js'
import { topicRoutes } from './routes/topics.js'
import { buildEdgeValidator } from './validation.js'

export interface BuildServerOptions {
  broker: Broker
  logger?: boolean | { level: string }
  readinessProbes?: ReadinessProbe[]
  /** GET /metrics and per-request observations (registered before the routes so it sees them all). */
  metrics?: BrokerMetrics
  /** Resource alarms: produce is shed at onRequest while one is set. */
  alarms?: ResourceAlarms
  /** While this says false, topic, group and exchange routes answer 503 NOT_READY (startup-gate.ts). */
  loaded?: () => boolean
  /** More routes (groups, exchanges, metrics, cluster), registered after the core ones. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
  /** Serve https with these options (tls-options.ts); plain http without. */
  https?: HttpsServerOptions
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
    // The error handler answers requests arriving during close with NOT_READY in the envelope.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    schemaController: { compilersFactory: { buildValidator: buildEdgeValidator } },
    ...(opts.https && { https: opts.https }),
  })
  await app.register(errorHandler)
  await app.register(msgpackCodec)
  await app.register(
    authPlugin,
    opts.auth ?? {
      enabled: false,
      acls: () => [],
      context: { memberTopics: () => [], groupTopics: () => [] },
      metricsOpen: true,
    },
  )
  // Before any route, so that the document sees them all (GET /openapi.json, /docs).
  await app.register(openApiPlugin)
  if (opts.metrics) await app.register(metricsPlugin, { metrics: opts.metrics, broker: opts.broker })
  if (opts.alarms) await app.register(loadShedding, { alarms: opts.alarms })
  if (opts.loaded) await app.register(startupGate, { loaded: opts.loaded })
  await app.register(healthRoutes, { broker: opts.broker, probes: opts.readinessProbes ?? [] })
  await app.register(topicRoutes, { broker: opts.broker })
  await app.register(produceRoutes, { broker: opts.broker })
  await app.register(fetchRoutes, { broker: opts.broker })
  await app.register(consoleRoutes)
  for (const plugin of opts.plugins ?? []) await app.register(plugin)
  return app
}
