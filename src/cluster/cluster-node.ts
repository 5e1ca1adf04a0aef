/**
 * One broker's membership in a cluster (`--etcd`): it registers with a lease, keeps a watched copy
 * of the cluster metadata, applies it (topics on disk, each local replica's role), campaigns for
 * controller, and answers the broker's questions about leadership (`BrokerCluster`).
 *
 * Start: lease → wait for a previous incarnation's key to lapse → register → snapshot → watch;
 * then the broker opens the partitions it replicates, and `activate()` reconciles the disk with etcd
 * and starts applying.
 *
 * When the lease may have lapsed (SIGSTOP, partition from etcd, etcd down) the node is suspended:
 * it leads nothing, confirms nothing and answers NOT_LEADER to produce (reads of committed data go
 * on, /readyz says why). When a lease is valid again it re-registers, re-reads the whole cluster
 * from a fresh snapshot and only then leads again (a new lease means a new registration, so the
 * controller gives its partitions new epochs first).
 * Main thread only.
 */
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3'
import type { Broker, BrokerCluster, ClusterPartition, CreateTopicInput } from '../broker/broker.js'
import { checkTopicName, INTERNAL_PREFIX } from '../broker/topic-registry.js'
import type { BrokerConfig } from '../config/schema.js'
import {
  InvalidRequestError,
  NotLeaderError,
  NotReadyError,
  type StrataError,
  TopicExistsError,
  TopicNotFoundError,
} from '../errors.js'
import {
  type DesiredReplica,
  type ReplicationLogger,
  ReplicationManager,
} from '../replication/replication-manager.js'
import type { Acks, Durability, FetchFormat } from '../workers/worker-messages.js'
import { BrokerSession } from './broker-session.js'
import {
  type BrokerRecord,
  ClusterKeys,
  type ClusterTopic,
  minInsyncReplicas,
  NO_LEADER,
  type PartitionRecord,
  replicasOf,
} from './cluster-records.js'
import { ClusterView, type KeyChange } from './cluster-view.js'
import { Controller, type PreferredElection } from './controller.js'
import { checkPartitionBudgets, replicasPerBroker } from './partition-budgets.js'
import {
  type ReassignmentInput,
  ReassignmentRequests,
  type ReassignmentStatus,
} from './reassignment-requests.js'
import { assignReplicas } from './replica-assignment.js'
import { writeNewTopic } from './topic-creation.js'
import { WatchBackoff } from './watch-backoff.js'

/** Every etcd call but the watch gives up after this, so nothing hangs on a dead or paused etcd. */
const ETCD_CALL_TIMEOUT_MS = 3_000
/** How long a create/delete waits for this broker to apply its own write (the watch is usually ms). */
const APPLY_WAIT_MS = 10_000
/** The internal topic waits this long for enough brokers for its replication factor, then takes fewer. */
const INTERNAL_TOPIC_WAIT_MS = 30_000

export interface ClusterDescription {
  brokers: Array<{ id: number; url: string; alive: boolean }>
  controller: number | null
}

export class ClusterNode implements BrokerCluster {
  readonly view = new ClusterView()
  readonly replication: ReplicationManager
  readonly #config: BrokerConfig
  readonly #broker: Broker
  readonly #logger: ReplicationLogger = {
    info: (obj, msg) => this.#log.info(obj, msg),
    warn: (obj, msg) => this.#log.warn(obj, msg),
    error: (obj, msg) => this.#log.error(obj, msg),
  }
  #log: ReplicationLogger = stderrLogger
  readonly #client: Etcd3
  readonly #watchBackoff = new WatchBackoff()
  readonly #session: BrokerSession
  readonly #controller: Controller
  readonly #reassignments: ReassignmentRequests
  #watcher: Watcher | undefined
  /** The create revision of our broker key in this session: records older than it we may not lead. */
  #registeredAt = 0
  /** The lease our broker key is bound to. */
  #registeredLease: string | undefined
  #joined = false
  #synced = false
  #active = false
  #closed = false
  #applying: Promise<void> | undefined
  #applyAgain = false
  #appliedRevision = 0
  #revisionWaiters: Array<{ revision: number; resolve: () => void }> = []
  #resync: Promise<void> | undefined
  /** Aborted by close(): ends waits on etcd that nothing else would end. */
  readonly #leaving = new AbortController()

  private constructor(config: BrokerConfig, broker: Broker) {
    this.#config = config
    this.#broker = broker
    this.#client = new Etcd3({
      hosts: config.etcd
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== ''),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      // gRPC's reconnect backoff grows to 2 minutes; etcd coming back must be noticed in a second.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
      faultHandling: { watchBackoff: this.#watchBackoff },
    })
    this.#session = new BrokerSession(this.#client, config.brokerLeaseMs, {
      suspended: () => this.#onSuspended(),
      restored: () => this.#onRestored(),
    })
    this.#controller = new Controller(this.#client, this.view, config.brokerId, this.#logger, {
      move: (topic, partition, leader, leaderEpoch) =>
        this.replication.moveToPreferred(topic, partition, leader, leaderEpoch),
      intervalMs: config.leaderRebalanceIntervalMs,
    })
    this.replication = new ReplicationManager(config, broker, this, this.#logger)
    this.#reassignments = new ReassignmentRequests(this.#client, this.view)
  }

  /** The server's logger, once it exists (the node joins before the server is built). */
  set logger(logger: ReplicationLogger) {
    this.#log = logger
  }

  get logger(): ReplicationLogger {
    return this.#logger
  }

  /** A node that has not joined yet: the server can be built around it before any network call. */
  /** The etcd connection, for other metadata kept there (users and ACLs: auth/etcd-auth-backend.ts). */
  get etcd(): Etcd3 {
    return this.#client
  }

  static create(config: BrokerConfig, broker: Broker): ClusterNode {
    return new ClusterNode(config, broker)
  }

  /** Joins the cluster (lease, registration) and loads its metadata; then the broker opens its partitions. */
  async join(): Promise<void> {
    try {
      await this.#session.start()
      await this.#register()
      await this.#loadSnapshot()
    } catch (err) {
      await this.close()
      throw err
    }
    this.#joined = true
    // The lease lapsed while we were joining (a busy machine): register again with the new one.
    if (!this.#session.isValid() || this.#session.leaseId !== this.#registeredLease) this.#resyncSoon()
  }

  /** After broker.start(): reconciles the disk with etcd, applies roles, campaigns for controller. */
  async activate(): Promise<void> {
    this.#checkLocalTopics()
    await this.#removeStrayPartitions()
    this.#active = true
    // Unless the lease lapsed during start-up: then the resync that follows its return sets it.
    this.#synced = this.#session.isValid() && this.#resync === undefined
    await this.#scheduleApply()
    await this.replication.settled()
    this.#campaign()
  }

  /**
   * Controlled shutdown, before close(): hands every leadership held here to an in-sync follower
   * and leaves the ISRs (replication-manager.ts), within `withinMs`. The HTTP server must still be
   * serving: followers catch up through their fetches. Without a valid lease it does nothing (etcd
   * cannot be written); the controller moves the partitions once the lease is gone.
   */
  async leave(withinMs: number): Promise<void> {
    if (this.#closed || !this.#active) return
    await this.replication.leave(Date.now() + withinMs)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#active = false
    this.#leaving.abort()
    this.#controller.resign()
    const watcher = this.#watcher
    this.#watcher = undefined
    await settleWithin(watcher?.cancel(), ETCD_CALL_TIMEOUT_MS)
    // A re-join in flight creates no watcher once closed; its etcd calls end within their deadline.
    await settleWithin(this.#resync, 2 * ETCD_CALL_TIMEOUT_MS)
    await this.replication.close()
    await this.#session.close()
    this.#watchBackoff.close()
    this.#client.close()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Suspended, or not yet re-synced after a suspension: nothing may be led or confirmed. */
  leaseValid(): boolean {
    return this.#synced && this.#session.isValid()
  }

  /** Reasons for /readyz to answer 503 (empty when this broker is a healthy member). */
  notReadyReasons(): string[] {
    if (this.#closed) return ['leaving the cluster']
    if (!this.#session.isValid())
      return ['etcd lease may have lapsed (etcd unreachable?): not leading anything']
    if (!this.#synced) return ['re-reading cluster metadata from etcd']
    return []
  }

  describe(): ClusterDescription {
    const ids = new Set([...this.view.members.keys(), ...this.view.brokers.keys()])
    const brokers = [...ids]
      .sort((a, b) => a - b)
      .map((id) => ({ id, url: this.view.urlOf(id) ?? '', alive: this.view.brokers.has(id) }))
    return { brokers, controller: this.view.controller ?? null }
  }

  /** Preferred-leader election on demand (`POST /v1/cluster/preferred-leader-election`). */
  electPreferredLeaders(filter: { topic?: string; partitions?: number[] }): Promise<PreferredElection[]> {
    return this.#controller.electPreferredLeaders(filter)
  }

  /**
   * Starts reassignments (`POST /v1/cluster/reassignments`), all or none; resolves once this broker
   * applied them. Partitions that already have their target replicas are left out.
   */
  async reassignPartitions(
    partitions: readonly ReassignmentInput[],
    throttleBytesPerSec?: number,
  ): Promise<ReassignmentStatus[]> {
    await this.#awaitSession()
    const { revision, reassignments } = await this.#reassignments.start(partitions, throttleBytesPerSec)
    if (revision !== undefined) await this.#waitApplied(revision)
    return reassignments
  }

  /** The reassignments under way (`GET /v1/cluster/reassignments`). */
  listReassignments(): ReassignmentStatus[] {
    return this.#reassignments.list()
  }

  /** Cancels a running reassignment (`DELETE /v1/cluster/reassignments/:topic/:partition`). */
  async cancelReassignment(topic: string, partition: number): Promise<ReassignmentStatus> {
    await this.#awaitSession()
    const { revision, reassignments } = await this.#reassignments.cancel(topic, partition)
    if (revision !== undefined) await this.#waitApplied(revision)
    return reassignments[0] as ReassignmentStatus
  }

  urlOf(brokerId: number): string | undefined {
    return this.view.urlOf(brokerId)
  }

  isAlive(brokerId: number): boolean {
    return this.view.brokers.has(brokerId)
  }

  // ---- BrokerCluster: questions from the broker -----------------------------------------------

  replicates(topic: string, partition: number): boolean {
    return this.replicasOf(topic, partition).includes(this.#config.brokerId)
  }

  /** A partition's replicas now (during a reassignment: the target and the replicas leaving). */
  replicasOf(topic: string, partition: number): number[] {
    const t = this.view.topics.get(topic)?.value
    return t ? replicasOf(t, partition, this.view.partition(topic, partition)?.value) : []
  }

  describePartition(topic: string, partition: number): ClusterPartition {
    const record = this.view.partition(topic, partition)?.value
    return {
      leader: record?.leader ?? NO_LEADER,
      replicas: this.replicasOf(topic, partition),
      isr: record?.isr ?? [],
      ...(record?.addingReplicas && { addingReplicas: record.addingReplicas }),
      ...(record?.removingReplicas && { removingReplicas: record.removingReplicas }),
    }
  }

  checkProduce(topic: string, partition: number, acks: Acks): void {
    this.replication.checkProduce(topic, partition, acks)
  }

  awaitReplication(
    topic: string,
    partition: number,
    lastOffset: number,
    acks: Acks,
  ): Promise<Durability | undefined> {
    return this.replication.awaitReplication(topic, partition, lastOffset, acks)
  }

  /**
   * Consumers read from leaders. A group fetch (the coordinator merging partitions) and the broker's
   * own reads of internal topics may also read a local follower replica: they read only below that
   * replica's high watermark, so only committed data.
   */
  checkFetch(topic: string, partition: number, format: FetchFormat): void {
    const internal = topic.startsWith(INTERNAL_PREFIX)
    if ((format === 'group' || internal) && this.replication.hasReplica(topic, partition)) return
    this.replication.checkFetch(topic, partition)
  }

  notLeader(topic: string, partition: number, reason?: string): StrataError {
    const record = this.view.partition(topic, partition)?.value
    const leaderId = record?.leader ?? NO_LEADER
    const details: Record<string, unknown> = { topic, partition, leaderId }
    if (record) details.leaderEpoch = record.leaderEpoch
    if (leaderId === this.#config.brokerId) {
      details.reason = reason ?? (this.leaseValid() ? 'taking leadership' : 'etcd lease may have lapsed')
      return new NotLeaderError(
        `broker ${leaderId} cannot lead ${topic}/${partition} right now (${details.reason}); retry`,
        details,
      )
    }
    const leaderUrl = leaderId === NO_LEADER ? undefined : this.view.urlOf(leaderId)
    if (leaderUrl) details.leaderUrl = leaderUrl
    const who = leaderId === NO_LEADER ? 'has no live leader' : `is led by broker ${leaderId}`
    return new NotLeaderError(`partition ${topic}/${partition} ${who}`, details)
  }

  async updatePartition(
    topic: string,
    partition: number,
    expectedModRevision: number,
    record: PartitionRecord,
  ): Promise<number | undefined> {
    if (!this.leaseValid()) return undefined
    const key = ClusterKeys.partition(topic, partition)
    const res = await this.#client
      .if(key, 'Mod', '==', expectedModRevision)
      .then(this.#client.put(key).value(JSON.stringify(record)))
      .commit()
    return res.succeeded ? Number(res.header.revision) : undefined
  }

  // ---- topics ---------------------------------------------------------------------------------

  async createTopic(input: CreateTopicInput): Promise<void> {
    checkTopicName(input.name, { internal: input.internal ?? false })
    await this.#awaitSession()
    const existing = this.view.topics.get(input.name)
    if (existing) {
      if (input.internal) return this.#waitApplied(existing.modRevision)
      throw new TopicExistsError(`topic "${input.name}" already exists`, { topic: input.name })
    }
    const partitions = input.partitions ?? this.#config.defaultPartitions
    const replicationFactor = await this.#replicationFactorFor(input)
    const minIsr = input.config?.minInsyncReplicas
    if (minIsr !== undefined && (minIsr < 1 || minIsr > replicationFactor)) {
      throw new InvalidRequestError(
        `minInsyncReplicas must be between 1 and replicationFactor (${replicationFactor})`,
        {
          field: 'config/minInsyncReplicas',
        },
      )
    }
    const assignment = assignReplicas(
      input.name,
      [...this.view.brokers.keys()],
      partitions,
      replicationFactor,
    )
    if (!input.internal) checkPartitionBudgets(this.view, replicasPerBroker(assignment))
    const topic: ClusterTopic = {
      name: input.name,
      partitions,
      replicationFactor,
      config: input.config ?? {},
      createdAt: Date.now(),
      assignment,
    }
    await this.#writeTopic(topic, input.internal ?? false)
  }

  /**
   * Writes the topic (topic-creation.ts); while another broker is creating the same name, waits
   * for that create to end (its topic key, or its claim lapsing with its lease) and tries again.
   */
  async #writeTopic(topic: ClusterTopic, internal: boolean): Promise<void> {
    const deadline = Date.now() + APPLY_WAIT_MS
    for (;;) {
      await this.#awaitSession()
      const write = await writeNewTopic(this.#client, this.#session.leaseId as string, topic)
      if (write.outcome === 'created') return this.#waitApplied(write.revision)
      if (write.outcome === 'exists') {
        if (internal) return this.#waitForTopic(topic.name)
        throw new TopicExistsError(`topic "${topic.name}" already exists`, { topic: topic.name })
      }
      if (write.outcome === 'lost' || Date.now() > deadline) {
        throw new NotReadyError(
          `topic "${topic.name}" was not created (the cluster was busy or etcd unreachable); retry`,
          {
            topic: topic.name,
          },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  async deleteTopic(name: string): Promise<void> {
    await this.#awaitSession()
    const key = ClusterKeys.topic(name)
    const res = await this.#client
      .if(key, 'Create', '>', 0)
      .then(this.#client.delete().key(key), this.#client.delete().prefix(ClusterKeys.partitionsOf(name)))
      .commit()
    if (!res.succeeded) throw new TopicNotFoundError(`topic "${name}" does not exist`, { topic: name })
    await this.#waitApplied(Number(res.header.revision))
  }

  /** Metadata changes need a live session; a short lapse (a busy machine) is waited out. */
  async #awaitSession(): Promise<void> {
    const deadline = Date.now() + APPLY_WAIT_MS
    while (!this.leaseValid() && Date.now() < deadline && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (!this.leaseValid()) throw new NotReadyError('not connected to the cluster (etcd); retry shortly')
  }

  /**
   * The requested factor must fit the live brokers. The internal offsets topic takes
   * offsetsTopicReplicationFactor, waiting a while for that many brokers (a cluster starting up).
   */
  async #replicationFactorFor(input: CreateTopicInput): Promise<number> {
    if (!input.internal) {
      const rf = input.replicationFactor ?? 1
      if (rf > this.view.brokers.size) {
        throw new InvalidRequestError(
          `replicationFactor ${rf} needs ${rf} live brokers; ${this.view.brokers.size} are alive`,
          { field: 'replicationFactor', liveBrokers: this.view.brokers.size },
        )
      }
      return rf
    }
    const wanted = Math.max(input.replicationFactor ?? 1, this.#config.offsetsTopicReplicationFactor)
    const deadline = Date.now() + INTERNAL_TOPIC_WAIT_MS
    while (this.view.brokers.size < wanted && Date.now() < deadline && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const rf = Math.min(wanted, this.view.brokers.size)
    if (rf < wanted) {
      this.#logger.warn(
        { topic: input.name, wanted, replicationFactor: rf },
        'internal topic created with fewer replicas',
      )
    }
    return rf
  }

  /** Another broker created it first: wait until our watch brought it and we applied it. */
  async #waitForTopic(name: string): Promise<void> {
    const deadline = Date.now() + APPLY_WAIT_MS
    while (!this.view.topics.has(name) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const topic = this.view.topics.get(name)
    if (!topic) throw new NotReadyError(`topic "${name}" is not applied here yet; retry`)
    await this.#waitApplied(topic.modRevision)
  }

  /** Resolves once everything up to `revision` has been applied on this broker. */
  #waitApplied(revision: number): Promise<void> {
    if (this.#appliedRevision >= revision) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#revisionWaiters = this.#revisionWaiters.filter((w) => w.resolve !== done)
        reject(new NotReadyError('the change is in etcd but not applied on this broker yet; retry'))
      }, APPLY_WAIT_MS)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.#revisionWaiters.push({ revision, resolve: done })
    })
  }

  // ---- joining, watching, applying ------------------------------------------------------------

  /** Registers this broker; a previous incarnation's key (same id, lease not yet lapsed) is waited out. */
  async #register(): Promise<void> {
    const key = ClusterKeys.broker(this.#config.brokerId)
    const record: BrokerRecord = { id: this.#config.brokerId, url: this.#config.advertiseUrl }
    const budget = this.#broker.partitionBudget.limit
    if (Number.isFinite(budget)) record.partitionBudget = budget
    const value = JSON.stringify(record)
    const leaseId = this.#session.leaseId as string
    const deadline = Date.now() + this.#session.ttlMs + 2 * ETCD_CALL_TIMEOUT_MS
    for (;;) {
      const res = await this.#client
        .if(key, 'Create', '==', 0)
        .then(this.#client.put(key).value(value).lease(leaseId))
        .else(this.#client.get(key))
        .commit()
      if (res.succeeded) {
        this.#registeredAt = Number(res.header.revision)
        this.#registeredLease = leaseId
        break
      }
      const holder = res.responses[0]?.response_range?.kvs[0]
      if (holder && String(holder.lease) === String(leaseId)) {
        this.#registeredAt = Number(holder.create_revision)
        this.#registeredLease = leaseId
        break
      }
      if (this.#closed) throw new NotReadyError('leaving the cluster')
      if (Date.now() > deadline) {
        throw new InvalidRequestError(
          `broker id ${this.#config.brokerId} is registered by another live broker; give each broker its own --broker-id`,
          { brokerId: this.#config.brokerId },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    await this.#client.put(ClusterKeys.member(this.#config.brokerId)).value(value)
  }

  async #loadSnapshot(): Promise<void> {
    const res = await this.#client.getAll().prefix(ClusterKeys.root).exec()
    const revision = Number(res.header.revision)
    this.view.load(res.kvs.map(toChange), revision)
    await this.#watch(revision + 1)
  }

  async #watch(fromRevision: number): Promise<void> {
    const old = this.#watcher
    this.#watcher = undefined
    // A cancel waits for etcd's answer, which a dead connection never brings.
    await settleWithin(old?.cancel(), ETCD_CALL_TIMEOUT_MS)
    if (this.#closed) throw new NotReadyError('leaving the cluster')
    // Held before it connects (create() would hide it until etcd answers), so that close() can
    // always cancel it: a watcher left attached re-opens its stream on the closed client for ever.
    const watcher = this.#client
      .watch()
      .prefix(ClusterKeys.root)
      .startRevision(String(fromRevision))
      .watcher()
    this.#watcher = watcher
    watcher.on('data', (res) => {
      if (watcher !== this.#watcher) return
      let changed = false
      for (const event of res.events) {
        const change = toChange(event.kv)
        if (this.view.apply({ ...change, type: event.type === 'Delete' ? 'delete' : 'put' })) changed = true
      }
      if (changed) this.#scheduleApply()
      else this.#settleWaiters()
    })
    const connected = new Promise<void>((resolve, reject) => {
      watcher.once('connected', () => resolve())
      watcher.once('error', reject)
      this.#leaving.signal.addEventListener('abort', () => reject(new NotReadyError('leaving the cluster')), {
        once: true,
      })
    })
    await connected
    watcher.on('error', (err) => {
      if (watcher !== this.#watcher || this.#closed) return
      this.#logger.warn({ err }, 'etcd watch failed; re-reading the cluster')
      this.#resyncSoon()
    })
  }

  /** Applies the view now, or right after the apply that is running; resolves when it ran. */
  #scheduleApply(): Promise<void> {
    if (!this.#active || this.#closed) return Promise.resolve()
    if (this.#applying) {
      this.#applyAgain = true
      return this.#applying
    }
    this.#applying = this.#applyNow()
      .catch((err: unknown) => this.#logger.error({ err }, 'applying cluster metadata failed'))
      .finally(() => {
        this.#applying = undefined
        if (this.#applyAgain) {
          this.#applyAgain = false
          this.#scheduleApply()
        }
      })
    return this.#applying
  }

  async #applyNow(): Promise<void> {
    const revision = this.view.revision
    // Replicas of deleted (or re-created) topics stop before their logs close; new topics' logs
    // open before their replicas take roles. A create or delete is answered once roles are taken.
    this.replication.apply(this.#desiredReplicas())
    await this.replication.settled()
    await this.#applyTopics()
    this.replication.apply(this.#desiredReplicas())
    await this.replication.settled()
    const holder = this.view.controller
    if (holder !== undefined && holder !== this.#config.brokerId) this.#controller.resign()
    else if (!this.#controller.active && this.#session.isValid()) this.#campaign()
    this.#controller.reconcile()
    this.#appliedRevision = Math.max(this.#appliedRevision, revision)
    this.#settleWaiters()
  }

  #settleWaiters(): void {
    // An event that changed nothing moves the applied revision only when nothing is pending.
    if (this.#active && !this.#applying && !this.#applyAgain) {
      this.#appliedRevision = Math.max(this.#appliedRevision, this.view.revision)
    }
    const ready = this.#revisionWaiters.filter((w) => w.revision <= this.#appliedRevision)
    this.#revisionWaiters = this.#revisionWaiters.filter((w) => w.revision > this.#appliedRevision)
    for (const w of ready) w.resolve()
  }

  /** Topics on disk follow etcd: missing ones are created (their replicas opened), removed ones go. */
  async #applyTopics(): Promise<void> {
    for (const { value: topic } of this.view.topics.values()) {
      const local = this.#broker.topics.has(topic.name) ? this.#broker.topics.get(topic.name) : undefined
      if (local && local.createdAt !== topic.createdAt) await this.#broker.removeTopic(topic.name)
      if (!local || local.createdAt !== topic.createdAt) await this.#broker.addTopic(topic)
    }
    for (const local of this.#broker.topics.list()) {
      if (!this.view.topics.has(local.name) && isClusterTopic(local))
        await this.#broker.removeTopic(local.name)
    }
    await this.#applyPartitions()
  }

  /**
   * Reassignments: a partition that moved here opens (its replica then follows the leader), one
   * that moved away closes and its copy is deleted. The replica of a partition that moved away has
   * already stopped (the apply before this one no longer listed it).
   */
  async #applyPartitions(): Promise<void> {
    for (const { value: topic } of this.view.topics.values()) {
      if (!this.#broker.topics.has(topic.name)) continue
      if (this.#broker.topics.get(topic.name).createdAt !== topic.createdAt) continue
      for (let p = 0; p < topic.partitions; p++) {
        const wanted = this.replicates(topic.name, p)
        const open = this.#broker.isOpen(topic.name, p)
        if (wanted === open) continue
        // One partition that cannot open or close (its disk) must not stop the rest of the apply:
        // the next apply tries it again.
        try {
          if (wanted) await this.#broker.openPartition(topic.name, p)
          else await this.#broker.removePartition(topic.name, p)
          const done = wanted ? 'opened a partition reassigned here' : 'deleted a partition reassigned away'
          this.#logger.info({ topic: topic.name, partition: p }, done)
        } catch (err) {
          this.#logger.error(
            { topic: topic.name, partition: p, err },
            'reassigned partition: open/close failed',
          )
        }
      }
    }
  }

  /** Copies of partitions reassigned away while this broker was down (they were not opened). */
  async #removeStrayPartitions(): Promise<void> {
    for (const { value: topic } of this.view.topics.values()) {
      if (!this.#broker.topics.has(topic.name)) continue
      if (this.#broker.topics.get(topic.name).createdAt !== topic.createdAt) continue
      for (let p = 0; p < topic.partitions; p++) {
        if (!this.replicates(topic.name, p) && !this.#broker.isOpen(topic.name, p)) {
          await this.#broker.removePartition(topic.name, p).catch((err: unknown) => {
            this.#logger.warn(
              { topic: topic.name, partition: p, err },
              'a stray partition copy was not deleted',
            )
          })
        }
      }
    }
  }

  /** A data directory that holds topics a single broker made cannot join a cluster silently. */
  #checkLocalTopics(): void {
    const strangers = this.#broker.topics
      .list()
      .filter((t) => !isClusterTopic(t))
      .map((t) => t.name)
    if (strangers.length > 0) {
      throw new InvalidRequestError(
        `the data directory holds topics created without a cluster (${strangers.join(', ')}); use an empty --data-dir for a cluster broker`,
        { topics: strangers },
      )
    }
  }

  #desiredReplicas(): DesiredReplica[] {
    const me = this.#config.brokerId
    const out: DesiredReplica[] = []
    for (const { value: topic } of this.view.topics.values()) {
      for (let partition = 0; partition < topic.partitions; partition++) {
        const current = this.view.partition(topic.name, partition)
        if (!current) continue
        const replicas = replicasOf(topic, partition, current.value)
        if (!replicas.includes(me) || !this.#broker.topics.has(topic.name)) continue
        if (this.#broker.topics.get(topic.name).createdAt !== topic.createdAt) continue
        // A partition reassigned here takes a role once it is open (#applyPartitions).
        if (!this.#broker.isOpen(topic.name, partition)) continue
        out.push({
          topic: topic.name,
          partition,
          replicas,
          record: current.value,
          modRevision: current.modRevision,
          minInsync: minInsyncReplicas(topic),
          mayLead: current.modRevision > this.#registeredAt,
        })
      }
    }
    return out
  }

  #campaign(): void {
    const leaseId = this.#session.leaseId
    if (!leaseId || !this.#active || this.#closed) return
    this.#controller
      .campaign(leaseId)
      .catch((err: unknown) => this.#logger.warn({ err }, 'controller campaign failed'))
  }

  // ---- suspension and recovery ----------------------------------------------------------------

  #onSuspended(): void {
    if (this.#closed) return
    this.#synced = false
    this.#controller.resign()
    this.replication.suspend()
    this.#logger.warn(
      { brokerId: this.#config.brokerId },
      'etcd lease may have lapsed: leading nothing until it is back',
    )
  }

  #onRestored(): void {
    if (this.#closed || !this.#joined) return
    this.#resyncSoon()
  }

  #resyncSoon(): void {
    if (this.#resync || this.#closed) return
    this.#resync = this.#resyncLoop().finally(() => {
      this.#resync = undefined
    })
  }

  /** Re-register (a new lease needs a new key), re-read everything, then lead again. */
  async #resyncLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#register()
        await this.#loadSnapshot()
        this.#synced = this.#session.isValid()
        this.#scheduleApply()
        this.#campaign()
        this.#logger.info({ brokerId: this.#config.brokerId }, 'back in the cluster')
        return
      } catch (err) {
        if (this.#closed) return
        this.#logger.warn({ err }, 'cannot re-join the cluster yet; retrying')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
  }
}

/** Waits for `promise` (ignoring its outcome) at most `ms`. */
async function settleWithin(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    promise.catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms)
    }),
  ])
  clearTimeout(timer)
}

const stderrLogger: ReplicationLogger = {
  info: () => {},
  warn: (obj, msg) => process.stderr.write(`strata cluster: ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`strata cluster: ${msg} ${JSON.stringify(obj)}\n`),
}

function toChange(kv: IKeyValue): Omit<KeyChange, 'type'> & { type: 'put' } {
  return {
    type: 'put',
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  }
}

function isClusterTopic(topic: object): boolean {
  return Array.isArray((topic as { assignment?: unknown }).assignment)
}
