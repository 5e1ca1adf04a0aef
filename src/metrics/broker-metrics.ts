/**
 * Every metric the broker exports, by name, on a registry the caller passes in (never prom-client's
 * global one, so two brokers in one process — tests — do not mix their numbers).
 *
 * Where the numbers come from:
 * - Produce and fetch records and bytes per topic: counted in the HTTP thread around the router's
 *   append and fetch requests (`meter()`), once the owner has answered, so they move by exactly
 *   the records written (idempotent duplicates excluded) and the records returned.
 * - Requests per topic and latency per route: the metrics plugin's onResponse hook.
 * - fsync count, duration and records per fsync, and log append/retention counters: kept by each
 *   partition owner in its own thread (`HostStats`), fetched from every worker on scrape and merged
 *   (worker-metrics.ts).
 * - Partition offsets: the broker's mirror of its owners' state, read on scrape.
 * - Worker load, alarm state, in-flight produce bytes: read on scrape.
 * - Process metrics: prom-client's default collectors, on our registry.
 * Nothing is logged or counted per record; per-request work is a few counter increments.
 *
 * The name table below is the one place names live; src/metrics/README.md documents each one.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client'
import type { AlarmKind, ProduceInflight, ResourceAlarms } from '../broker/alarms.js'
import type { Broker } from '../broker/broker.js'
import { LOG_FILE_SUFFIX } from '../storage/segment-files.js'
import type { HostRequest, HostResponses, HostStats } from '../workers/worker-messages.js'
import type { PartitionRouter } from '../workers/worker-router.js'
import { HostStatsAccumulator } from './worker-metrics.js'

export const MetricNames = {
  produceRequests: 'strata_produce_requests_total',
  produceRecords: 'strata_produce_records_total',
  produceBytes: 'strata_produce_bytes_total',
  produceRefused: 'strata_produce_refused_total',
  produceInflightBytes: 'strata_produce_inflight_bytes',
  fetchRequests: 'strata_fetch_requests_total',
  fetchRecords: 'strata_fetch_records_total',
  fetchBytes: 'strata_fetch_bytes_total',
  fetchLongPollsWaiting: 'strata_fetch_long_polls_waiting',
  httpRequestDuration: 'strata_http_request_duration_seconds',
  fsyncs: 'strata_fsyncs_total',
  fsyncDuration: 'strata_fsync_duration_seconds',
  fsyncRecords: 'strata_fsync_records_total',
  recordsPerFsync: 'strata_records_per_fsync',
  logAppendBatches: 'strata_log_append_batches_total',
  logSegmentsDeleted: 'strata_log_segments_deleted_total',
  partitionLogStartOffset: 'strata_partition_log_start_offset',
  partitionLogEndOffset: 'strata_partition_log_end_offset',
  partitionHighWatermark: 'strata_partition_high_watermark',
  partitionOffline: 'strata_partition_offline',
  workerInflightRequests: 'strata_worker_inflight_requests',
  workerQueueDepth: 'strata_worker_queue_depth',
  workerPartitions: 'strata_worker_partitions',
  workerRestarts: 'strata_worker_restarts_total',
  alarmActive: 'strata_alarm_active',
  memoryHighWatermarkBytes: 'strata_memory_high_watermark_bytes',
  diskFreeBytes: 'strata_disk_free_bytes',
  diskFreeLimitBytes: 'strata_disk_free_limit_bytes',
  consumerGroupLag: 'strata_consumer_group_lag',
  partitionSizeBytes: 'strata_partition_size_bytes',
  partitionReplicas: 'strata_partition_replicas',
  partitionIsrSize: 'strata_partition_isr_size',
  underReplicatedPartitions: 'strata_under_replicated_partitions',
  leaderElections: 'strata_leader_elections_total',
  followerLag: 'strata_replica_follower_lag',
  exchangeRouted: 'strata_exchange_routed_total',
  exchangeUnroutable: 'strata_exchange_unroutable_total',
} as const
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames]

export interface TopicTotals {
  produceRecords: number
  produceBytes: number
  fetchRecords: number
  fetchBytes: number
}

export interface BrokerTotals {
  topics: Map<string, TopicTotals>
  /** fsyncs since start, their total seconds, and the cumulative histogram (bucket upper bounds). */
  fsync: { count: number; seconds: number; bounds: number[]; cumulative: number[] }
  /** Total lag per consumer group. */
  groupLag: Map<string, number>
  alarms: { memory: boolean; disk: boolean }
}

/** Request latency buckets, seconds: 0.5 ms (an inject) up to 30 s (the longest long poll). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface LagEntry {
  group: string
  topic: string
  partition: number
  lag: number
}
/** Consumer-group lag, registered by the groups coordinator; read on every scrape. */
export type LagSource = () => Iterable<LagEntry> | Promise<Iterable<LagEntry>>

/** An exchange's routing counters since the broker started (ExchangeRegistry.list()). */
export interface ExchangeCounts {
  name: string
  stats?: { routed: number; unroutable: number } | undefined
}

/** How far one follower of a partition this broker leads is behind its log end, in records. */
export interface FollowerLag {
  topic: string
  partition: number
  follower: number
  lag: number
}

export interface MetricSources {
  broker: Broker
  /** The router the broker uses (stats and load pass through the wrappers). */
  router: PartitionRouter
  alarms?: ResourceAlarms
  inflight?: ProduceInflight
}

type PartitionRequest = Exclude<HostRequest, { op: 'stats' | 'retention' }>

/**
 * A histogram whose buckets are kept elsewhere (each worker's HostStats) and merged on scrape;
 * prom-client's Histogram only takes single observations, so this renders the merged buckets.
 */
class MergedHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #read: () => Promise<{ bounds: number[]; cumulative: number[]; count: number; sum: number }>

  constructor(
    name: string,
    help: string,
    read: () => Promise<{ bounds: number[]; cumulative: number[]; count: number; sum: number }>,
  ) {
    this.name = name
    this.help = help
    this.#read = read
  }

  async get() {
    const h = await this.#read()
    const bucket = `${this.name}_bucket`
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [
        ...h.bounds.map((le, i) => ({ metricName: bucket, labels: { le }, value: h.cumulative[i] ?? 0 })),
        { metricName: bucket, labels: { le: '+Inf' }, value: h.count },
        { metricName: `${this.name}_sum`, labels: {}, value: h.sum },
        { metricName: `${this.name}_count`, labels: {}, value: h.count },
      ],
    }
  }
}

export class BrokerMetrics {
  readonly registry: Registry
  readonly #accumulator = new HostStatsAccumulator()
  readonly #lagSources: LagSource[] = []
  #exchanges: () => Iterable<ExchangeCounts> = () => []
  #leaderElections = 0
  #followerLag: () => Iterable<FollowerLag> = () => []
  #sources: MetricSources | undefined
  /**
   * The worker stats round trip in progress. A scrape collects every metric in one synchronous pass
   * (prom-client starts all `collect()`s before awaiting any), so the metrics of one scrape share
   * it; it is dropped once answered, so the next scrape asks again and is never stale.
   */
  #hostStats: Promise<HostStats> | undefined
  /** Requests sent to the in-process owner and not answered (the `--workers 0` queue depth). */
  #inflight = 0

  readonly produceRequests: Counter<'topic'>
  readonly produceRecords: Counter<'topic'>
  readonly produceBytes: Counter<'topic'>
  readonly fetchRequests: Counter<'topic'>
  readonly fetchRecords: Counter<'topic'>
  readonly fetchBytes: Counter<'topic'>
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>
  readonly #httpChildren = new Map<string, { observe(seconds: number): void }>()

  constructor(registry: Registry, opts: { processMetrics?: boolean } = {}) {
    this.registry = registry
    const registers = [registry]
    const byTopic = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['topic'], registers })
    this.produceRequests = byTopic(
      MetricNames.produceRequests,
      'Produce requests answered, by topic (any status).',
    )
    this.produceRecords = byTopic(
      MetricNames.produceRecords,
      'Records appended by produce, by topic (duplicates excluded).',
    )
    this.produceBytes = byTopic(MetricNames.produceBytes, 'Record batch bytes appended by produce, by topic.')
    this.fetchRequests = byTopic(MetricNames.fetchRequests, 'Fetch requests answered, by topic (any status).')
    this.fetchRecords = byTopic(MetricNames.fetchRecords, 'Records returned by fetches, by topic.')
    this.fetchBytes = byTopic(MetricNames.fetchBytes, 'Record bytes returned by fetches, by topic.')
    this.httpRequestDuration = new Histogram({
      name: MetricNames.httpRequestDuration,
      help: 'HTTP request latency in seconds, by method, route pattern and status (long polls included).',
      labelNames: ['method', 'route', 'status_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.#defineStorageMetrics()
    this.#definePartitionMetrics()
    this.#defineWorkerMetrics()
    this.#defineBackpressureMetrics()
    this.#defineReplicationMetrics()
    this.#defineExchangeMetrics()
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry })
  }

  /** Connects the scrape-time sources; call once the broker exists. */
  bind(sources: MetricSources): void {
    this.#sources = sources
  }

  /** Registers a consumer-group lag source (the groups coordinator calls this). */
  addLagSource(source: LagSource): void {
    this.#lagSources.push(source)
  }

  /**
   * Cumulative totals the console's stats ring (stats-ring.ts) turns into rates: produced and
   * fetched records and bytes per topic, the merged fsync stats, lag per group and the alarms.
   */
  async totals(): Promise<BrokerTotals> {
    const perTopic = new Map<string, TopicTotals>()
    const add = async (counter: Counter<'topic'>, field: keyof TopicTotals) => {
      for (const v of (await counter.get()).values) {
        const topic = String(v.labels.topic ?? '')
        const t = perTopic.get(topic) ?? {
          produceRecords: 0,
          produceBytes: 0,
          fetchRecords: 0,
          fetchBytes: 0,
        }
        t[field] += v.value
        perTopic.set(topic, t)
      }
    }
    await add(this.produceRecords, 'produceRecords')
    await add(this.produceBytes, 'produceBytes')
    await add(this.fetchRecords, 'fetchRecords')
    await add(this.fetchBytes, 'fetchBytes')
    const groupLag = new Map<string, number>()
    for (const source of this.#lagSources) {
      for (const e of await source()) groupLag.set(e.group, (groupLag.get(e.group) ?? 0) + e.lag)
    }
    const host = await this.#mergedHostStats()
    const alarms = this.#sources?.alarms?.status()
    return {
      topics: perTopic,
      fsync: {
        count: host.fsyncs,
        seconds: host.fsyncSecondsTotal,
        bounds: host.fsyncBuckets,
        cumulative: host.fsyncCounts,
      },
      groupLag,
      alarms: { memory: alarms?.memory.active ?? false, disk: alarms?.disk.active ?? false },
    }
  }

  /** Where the exchange counters come from (the exchange store's registry, once loaded). */
  setExchangeSource(list: () => Iterable<ExchangeCounts>): void {
    this.#exchanges = list
  }

  /** Where follower lag comes from (cluster mode: the replication manager of this broker). */
  setFollowerLagSource(read: () => Iterable<FollowerLag>): void {
    this.#followerLag = read
  }

  /** Counts a partition this broker became the leader of (cluster mode: a leader election won here). */
  countLeaderElection(): void {
    this.#leaderElections++
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    // One labelled child per (method, route, status), kept: prom-client would hash the labels on
    // every request otherwise. Routes are patterns and statuses few, so the map stays small.
    const key = `${method} ${statusCode} ${route}`
    let child = this.#httpChildren.get(key)
    if (child === undefined) {
      child = this.httpRequestDuration.labels({ method, route, status_code: String(statusCode) })
      this.#httpChildren.set(key, child)
    }
    child.observe(seconds)
  }

  /** A router that counts appended and fetched records and bytes per topic; everything else passes through. */
  meter(inner: PartitionRouter): PartitionRouter {
    const self = this
    const metered: PartitionRouter = {
      kind: inner.kind,
      async request<R extends PartitionRequest>(req: R): Promise<HostResponses[R['op']]> {
        if (req.op !== 'append' && req.op !== 'fetch') return inner.request(req)
        // Read the length now: the pool router transfers the batch and leaves it detached.
        const batchBytes = req.op === 'append' ? req.batch.length : 0
        self.#inflight++
        try {
          const result = await inner.request(req)
          if (req.op === 'append') {
            const r = result as HostResponses['append']
            if (!r.duplicate) {
              self.produceRecords.inc({ topic: req.topic }, r.lastOffset - r.baseOffset + 1)
              self.produceBytes.inc({ topic: req.topic }, batchBytes)
            }
          } else {
            const r = result as HostResponses['fetch']
            if (r.recordCount > 0) {
              self.fetchRecords.inc({ topic: req.topic }, r.recordCount)
              self.fetchBytes.inc({ topic: req.topic }, r.bytes)
            }
          }
          return result
        } finally {
          self.#inflight--
        }
      },
      stats: () => inner.stats(),
      retention: (nowMs) => inner.retention(nowMs),
      onEvent: (listener) => inner.onEvent(listener),
      close: () => inner.close(),
    }
    if (inner.load) metered.load = () => inner.load?.() ?? []
    return metered
  }

  /** Every owner's HostStats merged, fetched once per scrape. */
  #mergedHostStats(): Promise<HostStats> {
    if (this.#hostStats === undefined) {
      const router = this.#sources?.router
      const pending = (router ? router.stats() : Promise.resolve([])).then((perOwner) =>
        this.#accumulator.update(perOwner),
      )
      this.#hostStats = pending
      pending.then(
        () => this.#dropHostStats(pending),
        () => this.#dropHostStats(pending),
      )
    }
    return this.#hostStats
  }

  #dropHostStats(settled: Promise<HostStats>): void {
    if (this.#hostStats === settled) this.#hostStats = undefined
  }

  #defineStorageMetrics(): void {
    const registers = [this.registry]
    const stats = () => this.#mergedHostStats()
    const counterFrom = (name: string, help: string, pick: (s: HostStats) => number) =>
      new Counter({
        name,
        help,
        registers,
        async collect() {
          this.reset()
          this.inc(pick(await stats()))
        },
      })
    counterFrom(
      MetricNames.fsyncs,
      'fdatasync calls of partition logs (one covers many appends: group commit).',
      (s) => s.fsyncs,
    )
    counterFrom(MetricNames.fsyncRecords, 'Records made durable by those fsyncs.', (s) => s.recordsFlushed)
    counterFrom(
      MetricNames.logAppendBatches,
      'Record batches appended to partition logs.',
      (s) => s.appendBatches,
    )
    counterFrom(MetricNames.logSegmentsDeleted, 'Segments deleted by retention.', (s) => s.segmentsDeleted)
    new Gauge({
      name: MetricNames.recordsPerFsync,
      help: 'Average records made durable per fsync since start (group commit efficiency).',
      registers,
      async collect() {
        const s = await stats()
        this.set(s.fsyncs === 0 ? 0 : s.recordsFlushed / s.fsyncs)
      },
    })
    const histogram = new MergedHistogram(
      MetricNames.fsyncDuration,
      'fdatasync duration of partition logs in seconds.',
      async () => {
        const s = await stats()
        return {
          bounds: s.fsyncBuckets,
          cumulative: s.fsyncCounts,
          count: s.fsyncs,
          sum: s.fsyncSecondsTotal,
        }
      },
    )
    this.registry.registerMetric(histogram as unknown as Parameters<Registry['registerMetric']>[0])
  }

  #definePartitionMetrics(): void {
    const registers = [this.registry]
    const labelNames = ['topic', 'partition'] as const
    const sources = () => this.#sources
    const byPartition = (
      name: string,
      help: string,
      pick: (p: {
        logStartOffset: number
        logEndOffset: number
        highWatermark: number
        offline?: string
      }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset()
          const broker = sources()?.broker
          if (!broker) return
          for (const topic of broker.listTopics({ internal: true })) {
            for (const p of topic.partitions)
              this.set({ topic: topic.name, partition: String(p.partition) }, pick(p))
          }
        },
      })
    byPartition(
      MetricNames.partitionLogStartOffset,
      'First offset still in the partition log.',
      (p) => p.logStartOffset,
    )
    byPartition(
      MetricNames.partitionLogEndOffset,
      'Offset the next appended record will get.',
      (p) => p.logEndOffset,
    )
    byPartition(
      MetricNames.partitionHighWatermark,
      'Offset below which records are durable and readable.',
      (p) => p.highWatermark,
    )
    byPartition(
      MetricNames.partitionOffline,
      '1 when the partition is offline (storage error), else 0.',
      (p) => (p.offline ? 1 : 0),
    )
    const lagSources = this.#lagSources
    new Gauge({
      name: MetricNames.consumerGroupLag,
      help: 'Records between a group’s committed offset and the partition’s log end offset.',
      labelNames: ['group', 'topic', 'partition'],
      registers,
      async collect() {
        this.reset()
        for (const source of lagSources) {
          for (const e of await source())
            this.set({ group: e.group, topic: e.topic, partition: String(e.partition) }, e.lag)
        }
      },
    })
  }

  #defineWorkerMetrics(): void {
    const registers = [this.registry]
    const loads = () => {
      const router = this.#sources?.router
      if (router?.load) return router.load().map((l) => ({ ...l, worker: String(l.worker) }))
      // --workers 0: the main thread owns every partition; report it as worker "main".
      return [
        {
          worker: 'main',
          inflight: this.#inflight,
          queued: 0,
          partitions: 0,
          restarts: 0,
          recovering: false,
        },
      ]
    }
    const byWorker = (name: string, help: string, pick: (l: ReturnType<typeof loads>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        collect() {
          this.reset()
          for (const l of loads()) this.set({ worker: l.worker }, pick(l))
        },
      })
    byWorker(
      MetricNames.workerInflightRequests,
      'Requests sent to a partition owner thread and not answered yet.',
      (l) => l.inflight,
    )
    byWorker(
      MetricNames.workerQueueDepth,
      'Requests routed to a worker thread and not handed to it yet.',
      (l) => l.queued,
    )
    byWorker(
      MetricNames.workerPartitions,
      'Partitions a worker thread owns (0 for the in-process owner).',
      (l) => l.partitions,
    )
    new Counter({
      name: MetricNames.workerRestarts,
      help: 'Partition worker threads that died and were replaced (their partitions recovered).',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset()
        for (const l of loads()) this.inc({ worker: l.worker }, l.restarts)
      },
    })
  }

  #defineBackpressureMetrics(): void {
    const registers = [this.registry]
    const sources = () => this.#sources
    new Gauge({
      name: MetricNames.alarmActive,
      help: 'Resource alarm state: 1 while produce is blocked by it.',
      labelNames: ['alarm'],
      registers,
      collect() {
        const status = sources()?.alarms?.status()
        this.set({ alarm: 'memory' }, status?.memory.active ? 1 : 0)
        this.set({ alarm: 'disk' }, status?.disk.active ? 1 : 0)
      },
    })
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = read()
          if (v !== undefined && Number.isFinite(v)) this.set(v)
        },
      })
    gauge(
      MetricNames.memoryHighWatermarkBytes,
      'Resident set size above which the memory alarm is set.',
      () => sources()?.alarms?.status().memory.limitBytes,
    )
    gauge(
      MetricNames.diskFreeBytes,
      'Free bytes on the data directory’s filesystem at the last check.',
      () => sources()?.alarms?.status().disk.freeBytes,
    )
    gauge(
      MetricNames.diskFreeLimitBytes,
      'Free bytes below which the disk alarm is set.',
      () => sources()?.alarms?.status().disk.limitBytes,
    )
    gauge(
      MetricNames.produceInflightBytes,
      'Produce bytes sent to partition owners and not yet answered.',
      () => sources()?.inflight?.totalBytes,
    )
    gauge(
      MetricNames.fetchLongPollsWaiting,
      'Fetch long polls waiting for records.',
      () => sources()?.broker.waiters.size,
    )
    new Counter({
      name: MetricNames.produceRefused,
      help: 'Produce requests refused by backpressure, by reason (memory, disk alarm; throttled).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset()
        const s = sources()
        const refused: Record<AlarmKind, number> = s?.alarms?.refused ?? { memory: 0, disk: 0 }
        this.inc({ reason: 'memory' }, refused.memory)
        this.inc({ reason: 'disk' }, refused.disk)
        this.inc({ reason: 'throttled' }, s?.inflight?.throttled ?? 0)
      },
    })
  }

  /**
   * Replication as this broker sees it. ISR and replica counts are reported for the partitions this
   * broker leads, so that summing over brokers counts each partition once; a single broker leads
   * all of its partitions (one replica, itself in sync).
   */
  #defineReplicationMetrics(): void {
    const registers = [this.registry]
    const sources = () => this.#sources
    const led = () => {
      const broker = sources()?.broker
      if (!broker) return []
      return broker
        .listTopics({ internal: true })
        .flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })))
        .filter((p) => p.leader === broker.config.brokerId)
    }
    const labelNames = ['topic', 'partition'] as const
    new Gauge({
      name: MetricNames.partitionReplicas,
      help: 'Replicas assigned to a partition this broker leads.',
      labelNames,
      registers,
      collect() {
        this.reset()
        for (const p of led()) this.set({ topic: p.topic, partition: String(p.partition) }, p.replicas.length)
      },
    })
    new Gauge({
      name: MetricNames.partitionIsrSize,
      help: 'In-sync replicas of a partition this broker leads (leader included).',
      labelNames,
      registers,
      collect() {
        this.reset()
        for (const p of led()) this.set({ topic: p.topic, partition: String(p.partition) }, p.isr.length)
      },
    })
    new Gauge({
      name: MetricNames.underReplicatedPartitions,
      help: 'Partitions this broker leads with fewer in-sync replicas than replicas.',
      registers,
      collect() {
        this.set(led().filter((p) => p.isr.length < p.replicas.length).length)
      },
    })
    const followerLag = () => this.#followerLag()
    new Gauge({
      name: MetricNames.followerLag,
      help: 'Records a follower is behind the leader’s log end, for partitions this broker leads.',
      labelNames: ['topic', 'partition', 'follower'],
      registers,
      collect() {
        this.reset()
        for (const f of followerLag())
          this.set({ topic: f.topic, partition: String(f.partition), follower: String(f.follower) }, f.lag)
      },
    })
    const elections = () => this.#leaderElections
    new Counter({
      name: MetricNames.leaderElections,
      help: 'Times this broker became the leader of a partition (cluster mode).',
      registers,
      collect() {
        this.reset()
        this.inc(elections())
      },
    })
    new Gauge({
      name: MetricNames.partitionSizeBytes,
      help: 'Bytes of a partition’s log segments on this broker’s disk.',
      labelNames,
      registers,
      async collect() {
        this.reset()
        const broker = sources()?.broker
        if (!broker) return
        for (const topic of broker.listTopics({ internal: true })) {
          for (const p of topic.partitions) {
            const bytes = await logBytes(broker.topics.partitionDir(topic.name, p.partition))
            if (bytes !== undefined) this.set({ topic: topic.name, partition: String(p.partition) }, bytes)
          }
        }
      },
    })
  }

  #defineExchangeMetrics(): void {
    const registers = [this.registry]
    const exchanges = () => this.#exchanges()
    const byExchange = (
      name: string,
      help: string,
      pick: (s: { routed: number; unroutable: number }) => number,
    ) =>
      new Counter({
        name,
        help,
        labelNames: ['exchange'],
        registers,
        collect() {
          this.reset()
          for (const e of exchanges())
            this.inc({ exchange: e.name }, pick(e.stats ?? { routed: 0, unroutable: 0 }))
        },
      })
    byExchange(
      MetricNames.exchangeRouted,
      'Records published to an exchange that matched a binding.',
      (s) => s.routed,
    )
    byExchange(
      MetricNames.exchangeUnroutable,
      'Records published to an exchange that matched no binding (sent to its alternate topic, if any).',
      (s) => s.unroutable,
    )
  }
}

/** Bytes of a partition directory's segment logs; undefined when the directory is not on this broker. */
async function logBytes(dir: string): Promise<number | undefined> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return undefined
  }
  let total = 0
  for (const name of names) {
    if (!name.endsWith(LOG_FILE_SUFFIX)) continue
    try {
      total += (await stat(join(dir, name))).size
    } catch {
      // Deleted by retention between the listing and the stat.
    }
  }
  return total
}
