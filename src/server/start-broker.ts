/**
 * Assembles a running broker from a config: partition owners (in-process or worker pools), the
 * broker core, the HTTP server, retention, and a clean shutdown on SIGINT/SIGTERM that flushes
 * and checkpoints every partition. `strata serve` and the tests' in-process brokers both use it.
 */

import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Broker } from '../broker/broker.js'
import { ExchangeStore } from '../broker/exchanges/index.js'
import type { BrokerConfig } from '../config/schema.js'
import { InProcessRouter, type PartitionRouter } from '../workers/worker-router.js'
import { buildServer } from './build-server.js'
import { exchangeRoutes } from './routes/exchanges.js'

export interface RunningBroker {
  app: FastifyInstance
  broker: Broker
  url: string
  close(): Promise<void>
}

export async function createRouter(_config: BrokerConfig): Promise<PartitionRouter> {
  return new InProcessRouter()
}

export async function startBroker(
  config: BrokerConfig,
  opts: { logger?: boolean } = {},
): Promise<RunningBroker> {
  const router = await createRouter(config)
  const broker = new Broker(config, router)
  const exchanges = new ExchangeStore(join(config.dataDir, '__metadata', 'exchanges.json'), {
    topicExists: (topic) => broker.topics.has(topic),
  })
  await exchanges.load()
  broker.onTopicDeleted(async (topic) => {
    await exchanges.removeTopic(topic)
  })
  const app = await buildServer({
    broker,
    logger: opts.logger === false ? false : { level: config.logLevel },
    plugins: [(app) => exchangeRoutes(app, { broker, store: exchanges })],
  })
  // Listen first so /healthz answers and /readyz says "recovering" while logs are checked.
  await app.listen({ host: config.host, port: config.port })
  await broker.start()
  const retention = setInterval(() => {
    router.retention(Date.now()).catch((err) => app.log.error({ err }, 'retention failed'))
  }, config.retentionCheckIntervalMs)
  retention.unref()
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  let closing: Promise<void> | undefined
  return {
    app,
    broker,
    url: `http://${host}:${port}`,
    close() {
      closing ??= (async () => {
        clearInterval(retention)
        await app.close()
        await broker.close()
      })()
      return closing
    },
  }
}
