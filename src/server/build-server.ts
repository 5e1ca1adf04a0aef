/**
 * Builds the fastify app around a broker, without listening, so tests can `inject()`.
 *
 * Limits live here: the body limit is --max-request-bytes (413 past it), `requestTimeout` is set
 * because fastify's default of 0 lets a client trickling a body hold a socket forever, and ajv
 * rejects unknown fields instead of silently dropping them (a typo like `ack` must not be ignored).
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Broker } from '../broker/broker.js'
import { errorHandler } from './plugins/error-handler.js'
import { msgpackCodec } from './plugins/msgpack-codec.js'
import { fetchRoutes } from './routes/fetch.js'
import { healthRoutes, type ReadinessProbe } from './routes/health.js'
import { produceRoutes } from './routes/produce.js'
import { topicRoutes } from './routes/topics.js'

export interface BuildServerOptions {
  broker: Broker
  logger?: boolean | { level: string }
  readinessProbes?: ReadinessProbe[]
  /** More routes (groups, exchanges, metrics, cluster), registered after the core ones. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
}

export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const { config } = opts.broker
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: config.maxRequestBytes,
    requestTimeout: config.requestTimeoutMs,
    disableRequestLogging: true,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  })
  await app.register(errorHandler)
  await app.register(msgpackCodec)
  await app.register(healthRoutes, { broker: opts.broker, probes: opts.readinessProbes ?? [] })
  await app.register(topicRoutes, { broker: opts.broker })
  await app.register(produceRoutes, { broker: opts.broker })
  await app.register(fetchRoutes, { broker: opts.broker })
  for (const plugin of opts.plugins ?? []) await app.register(plugin)
  return app
}
