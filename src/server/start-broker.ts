/**
 * Assembles a running broker from a config: partition owners (in-process or worker pools), the
 * broker core, the HTTP server, retention, and a clean shutdown on SIGINT/SIGTERM that flushes
 * and checkpoints every partition. `strata serve` and the tests' in-process brokers both use it.
 */

import { join } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { EtcdAuthBackend } from '../auth/etcd-auth-backend.js'
import { setUpAuth } from '../auth/setup.js'
import {
  type AlarmProbes,
  ProduceInflight,
  produceAdmission,
  ResourceAlarms,
  testProbesFromEnv,
} from '../broker/alarms.js'
import { Broker } from '../broker/broker.js'
import { ExchangeStore } from '../broker/exchanges/index.js'
import { GroupCoordinator } from '../broker/groups/index.js'
import { clusterExchanges } from '../cluster/cluster-exchanges.js'
import { ClusterNode } from '../cluster/cluster-node.js'
import { CoordinatorHandoff } from '../cluster/coordinator-handoff.js'
import { ClusterPartitionLeaders } from '../cluster/group-partition-leaders.js'
import { LeaderWriter } from '../cluster/leader-writer.js'
import { isLoopbackHost } from '../config/load-config.js'
import type { BrokerConfig } from '../config/schema.js'
import { BrokerMetrics } from '../metrics/broker-metrics.js'
import { DataDirLock } from '../storage/data-dir-lock.js'
import { PoolRouter } from '../workers/pool-router.js'
import { InProcessRouter, type PartitionRouter } from '../workers/worker-router.js'
import { buildServer } from './build-server.js'
import { clusterRoutes, groupCoordinatorGate } from './routes/cluster.js'
import { consoleLoginRoutes, consoleStatsRoutes } from './routes/console.js'
import { exchangeRoutes } from './routes/exchanges.js'
import { groupRoutes } from './routes/groups.js'
import { replicaFetchRoutes } from './routes/replica-fetch.js'
import { securityRoutes } from './routes/security.js'
import { listenerTlsAtStart, TlsReloader } from './tls-options.js'

export interface RunningBroker {
  app: FastifyInstance
  broker: Broker
  url: string
  /** The broker's metrics; the groups coordinator registers its lag source here. */
  metrics: BrokerMetrics
  alarms: ResourceAlarms
  close(): Promise<void>
  /** The step a close() in progress is waiting for (the shutdown timeout logs it). */
  closingStep(): string | undefined
}

/** `--workers 0`: partitions in the main thread; N: N single-thread piscina pools (pool-router.ts). */
export async function createRouter(config: BrokerConfig): Promise<PartitionRouter> {
  if (config.workers === 0) return new InProcessRouter()
  return PoolRouter.start({ workers: config.workers, testHooks: process.env.STRATA_TEST_HOOKS === '1' })
}

export async function startBroker(
  config: BrokerConfig,
  opts: { logger?: boolean; alarmProbes?: Partial<AlarmProbes> } = {},
): Promise<RunningBroker> {
  // First of all: a second broker on the same data directory would write the same segments.
  const lock = DataDirLock.acquire(config.dataDir)
  // What a failed start must undo, newest first: the listening socket, the etcd session, the
  // worker threads. Without it a start that fails after listening keeps the port and never exits.
  const undo: Array<() => unknown> = [() => lock.release()]
  try {
    return await startLocked(config, opts, lock, undo)
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step()
      } catch {
        // Best effort: the start's own error is the one to report.
      }
    }
    throw err
  }
}

async function startLocked(
  config: BrokerConfig,
  opts: { logger?: boolean; alarmProbes?: Partial<AlarmProbes> },
  lock: DataDirLock,
  undo: Array<() => unknown>,
): Promise<RunningBroker> {
  // Read first: a missing or mismatched certificate must stop the start before anything opens.
  const https = listenerTlsAtStart(config)
  const router = await createRouter(config)
  undo.push(() => router.close())
  const metrics = new BrokerMetrics(new Registry())
  const inflight = new ProduceInflight(config.maxInflightBytesPerPartition)
  const alarms = new ResourceAlarms(config, { ...testProbesFromEnv(), ...opts.alarmProbes })
  // The broker's router counts records for the metrics and produce bytes in flight for throttling.
  const broker = new Broker(config, metrics.meter(inflight.track(router)))
  broker.setProduceAdmission(produceAdmission(alarms, inflight))
  metrics.bind({ broker, router: broker.router, alarms, inflight })
  // Cluster mode: the node joins (lease, registration, metadata) once the server is built (building
  // it is CPU-heavy; a lease must not lapse meanwhile) and before the logs open, so that only this
  // broker's replicas are opened, as replicated partitions.
  const cluster = config.etcd === '' ? undefined : ClusterNode.create(config, broker)
  if (cluster) {
    broker.setCluster(cluster)
    undo.push(() => cluster.close())
    metrics.setFollowerLagSource(() => cluster.replication.followerLag())
    cluster.replication.onRoleChange((change) => {
      if (change.role === 'leader') metrics.countLeaderElection()
    })
  }
  // Exchanges: a JSON file on a single broker; in a cluster, etcd (etcd-exchange-backend.ts).
  const exchanges = cluster
    ? clusterExchanges(cluster, broker)
    : new ExchangeStore(join(config.dataDir, '__metadata', 'exchanges.json'), {
        topicExists: (topic) => broker.topics.has(topic),
      })
  await exchanges.load()
  const leaderWriter = cluster ? new LeaderWriter(cluster, broker, config) : undefined
  metrics.setExchangeSource(() => exchanges.registry.list())
  broker.onTopicDeleted(async (topic) => {
    await exchanges.removeTopic(topic)
  })
  // Consumer groups load their committed offsets from `__consumer_offsets` once the logs are open.
  const groups = new GroupCoordinator({
    broker,
    logger: {
      warn: (details, message) => app.log.warn(details, message),
      debug: (details, message) => app.log.debug(details, message),
    },
    // Cluster mode: partitions without a replica here are read from their leaders, and dead-letter
    // copies are written on the dead-letter topic's leaders (a publish's path).
    leaders: cluster && new ClusterPartitionLeaders(cluster),
    deadLetterWriter: leaderWriter && ((topic, records) => leaderWriter.prepare(topic, records, 'all')()),
  })
  // Cluster mode: a group's coordinator is the leader of its offsets partition (coordinator-handoff.ts).
  const handoff = cluster ? new CoordinatorHandoff(cluster, broker, groups, cluster.logger) : undefined
  // Set once topics, groups and exchanges are loaded: until then their routes answer NOT_READY.
  let loaded = false
  // Cluster mode: users and ACLs are shared through etcd, so every broker knows the same ones.
  const auth = await setUpAuth(config, cluster ? { backend: new EtcdAuthBackend(cluster.etcd) } : {})
  const app = await buildServer({
    broker,
    loaded: () => loaded,
    logger: opts.logger === false ? false : { level: config.logLevel },
    metrics,
    alarms,
    readinessProbes: [
      () => alarms.reasons(),
      () => cluster?.notReadyReasons() ?? [],
      () => (groups.ready ? [] : ['consumer groups are loading their offsets']),
    ],
    auth: auth.pluginOptions({
      memberTopics: (group, member) => groups.memberTopics(group, member),
      groupTopics: (group) => groups.groupTopics(group),
    }),
    plugins: [
      (app) => securityRoutes(app, { store: auth.store }),
      (app) => consoleLoginRoutes(app, { auth, authEnabled: config.auth }),
      (app) => consoleStatsRoutes(app, { metrics }),
      (app) => clusterRoutes(app, { broker, node: cluster }),
      ...(cluster
        ? [(app: FastifyInstance) => replicaFetchRoutes(app, { replication: cluster.replication })]
        : []),
      (app) =>
        exchangeRoutes(app, { broker, store: exchanges, ...(leaderWriter && { writer: leaderWriter }) }),
      ...(handoff ? [groupCoordinatorGate(handoff)] : []),
      (app) => groupRoutes(app, { groups, broker }),
    ],
    ...(https && { https }),
  })
  undo.push(() => app.close())
  if (router instanceof PoolRouter) router.logger = app.log
  // Listen first so /healthz answers and /readyz says "recovering" while logs are checked.
  await app.listen({ host: config.host, port: config.port })
  // New certificates on SIGHUP or a change of the files; calls to leaders take the new key pair too.
  const tlsReloader = https
    ? new TlsReloader(app.server as unknown as TlsServer, config, app.log, () => {
        try {
          cluster?.replication.reloadTls()
          leaderWriter?.reloadTls()
        } catch (err) {
          app.log.error({ err }, 'TLS reload: calls to other brokers keep the previous certificate')
        }
      })
    : undefined
  tlsReloader?.start()
  undo.push(() => tlsReloader?.stop())
  if (!config.auth && !isLoopbackHost(config.host)) {
    app.log.warn(
      { host: config.host },
      'listening beyond loopback WITHOUT authentication (--insecure): anyone who reaches this port can read, write and delete everything',
    )
  }
  if (cluster) cluster.logger = app.log
  await cluster?.join()
  undo.push(() => groups.close())
  await broker.start({ warn: (details, message) => app.log.warn(details, message) })
  await cluster?.activate()
  // A crash between a topic's deletion and the exchanges file's rewrite leaves bindings to it.
  await exchanges.dropMissingTopics()
  await groups.start()
  loaded = true
  metrics.addLagSource(() => groups.lagEntries())
  alarms.onChange((kind, active, status) => {
    if (active) app.log.warn({ alarm: kind, ...status[kind] }, `${kind} alarm set: producers are blocked`)
    else app.log.info({ alarm: kind, ...status[kind] }, `${kind} alarm cleared: producers resume`)
  })
  undo.push(() => alarms.stop())
  await alarms.start()
  const retention = setInterval(() => {
    router.retention(Date.now()).catch((err) => app.log.error({ err }, 'retention failed'))
  }, config.retentionCheckIntervalMs)
  retention.unref()
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  let closing: Promise<void> | undefined
  let closingStep: string | undefined
  return {
    app,
    broker,
    url: `${https ? 'https' : 'http'}://${host}:${port}`,
    metrics,
    alarms,
    close() {
      closing ??= (async () => {
        clearInterval(retention)
        tlsReloader?.stop()
        alarms.stop()
        // Controlled shutdown while the server still answers our followers' fetches; half of the
        // shutdown timeout at most, the rest is for closing.
        closingStep = 'handing leaderships over to in-sync followers'
        await cluster?.leave(config.shutdownTimeoutMs / 2).catch((err: unknown) => {
          app.log.warn({ err }, 'controlled shutdown failed: the controller moves what is left once we leave')
        })
        groups.close()
        closingStep = 'closing the HTTP server (requests in flight)'
        await closeServer(app)
        await auth.store.close()
        // Leaving revokes the lease: the controller moves at once what could not be handed over.
        closingStep = 'leaving the cluster (etcd)'
        await cluster?.close()
        closingStep = 'flushing and closing partitions'
        await broker.close()
        lock.release()
        closingStep = undefined
      })()
      return closing
    },
    closingStep: () => closingStep,
  }
}

/** How long a closing server lets requests in flight finish before it drops their connections. */
const SERVER_DRAIN_MS = 2_000

/**
 * app.close() waits for every connection to end; one busy when it began stays open once its
 * response is sent (keep-alive, up to the 72 s idle timeout), so those are closed as they turn
 * idle, and whatever is still open after the drain (a consumer's long poll, a client that keeps
 * its connection busy) is dropped: clients retry elsewhere.
 */
async function closeServer(app: FastifyInstance): Promise<void> {
  const reaper = setInterval(() => app.server.closeIdleConnections(), 100)
  const drained = setTimeout(() => app.server.closeAllConnections(), SERVER_DRAIN_MS)
  try {
    await app.close()
  } finally {
    clearInterval(reaper)
    clearTimeout(drained)
  }
}
