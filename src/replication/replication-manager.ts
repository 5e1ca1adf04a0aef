/**
 * Replication on one broker, main thread: for every partition this broker replicates it is the
 * leader (serving followers, keeping the high watermark and the ISR), a follower (running a
 * ReplicaFetcher) or waiting (no live leader yet, or a leadership this broker may not take yet).
 *
 * The cluster node (src/cluster) hands it the desired state from etcd after every change; this
 * module moves each partition there, one transition at a time per partition, through the partition
 * owner's host requests (role and epoch, HW bound, reads, verbatim appends, truncation).
 *
 * Publisher confirms with acks=all: the append is fsynced on the leader, then the broker waits here
 * until the high watermark passes the batch, and confirms only if this broker still leads in the
 * same epoch, its etcd lease is surely alive, and the ISR is at least minInsyncReplicas. Anything
 * else is NOT_LEADER, NOT_ENOUGH_REPLICAS or ACK_TIMEOUT: the write may survive, but it was not
 * confirmed, so a client retrying with its producer id and sequence gets no duplicate.
 */
import type { Broker } from '../broker/broker.js'
import { PartitionWaiters } from '../broker/partition-waiters.js'
import type { PartitionRecord } from '../cluster/cluster-records.js'
import { isReassigning, NO_LEADER } from '../cluster/cluster-records.js'
import { successorInTarget } from '../cluster/reassignment.js'
import type { BrokerConfig } from '../config/schema.js'
import {
  AckTimeoutError,
  InvalidRequestError,
  NotEnoughReplicasError,
  NotLeaderError,
  type StrataError,
} from '../errors.js'
import { type EpochEndOffset, endOffsetForEpoch } from '../storage/index.js'
import { partitionKey } from '../workers/partition-host.js'
import type { Acks, Durability, PartitionState, ReplicaReadResult } from '../workers/worker-messages.js'
import { LeaderState, UNKNOWN_BOUND } from './leader-state.js'
import { ReplicaClient } from './replica-client.js'
import { type FetcherLogger, ReplicaFetcher } from './replica-fetcher.js'

/** How often leaders look for followers that fell out of sync (bounded by replicaLagMaxMs / 2). */
const ISR_CHECK_MAX_INTERVAL_MS = 1_000
/** A failed transition (partition not open yet, worker restarting) is tried again after this. */
const TRANSITION_RETRY_MS = 500
const MAX_TRANSITION_RETRY_MS = 10_000
/** A preferred-leader hand-over gives up (and takes writes again) when followers lag this long. */
const PREFERRED_HANDOFF_MS = 5_000

/** The answer of a leader asked to hand a partition to its preferred replica. */
export interface PreferredMove {
  moved: boolean
  /** Why nothing moved. */
  reason?: string
}

/** What etcd says about one partition this broker replicates. */
export interface DesiredReplica {
  topic: string
  partition: number
  replicas: number[]
  record: PartitionRecord
  modRevision: number
  minInsync: number
  /** The record was written after this broker registered, so it may lead in its epoch. */
  mayLead: boolean
}

/** What the replication manager needs from the cluster node. */
export interface ClusterMetadata {
  /** This broker's lease is surely alive and its view of the cluster is current. */
  leaseValid(): boolean
  urlOf(brokerId: number): string | undefined
  notLeader(topic: string, partition: number, reason?: string): StrataError
  /** The broker's lease is alive (it is registered in etcd). */
  isAlive(brokerId: number): boolean
  /** Compare-and-swap of the partition record; the new mod revision, or undefined if it moved. */
  updatePartition(
    topic: string,
    partition: number,
    expectedModRevision: number,
    record: PartitionRecord,
  ): Promise<number | undefined>
}

export interface ReplicaFetchQuery {
  offset: number
  replicaId: number
  leaderEpoch: number
  maxWaitMs: number
  maxBytes: number
}

export interface ReplicationLogger extends FetcherLogger {
  error(obj: object, msg: string): void
}

export type Role = 'none' | 'leader' | 'follower' | 'waiting'

export interface RoleChange {
  topic: string
  partition: number
  role: Role
  leaderEpoch: number
}

interface LocalReplica {
  readonly key: string
  readonly topic: string
  readonly partition: number
  desired: DesiredReplica
  role: Role
  epoch: number
  leaderId: number
  modRevision: number
  leader: LeaderState | undefined
  fetcher: ReplicaFetcher | undefined
  lastBound: number
  lastLogEndOffset: number
  isrBusy: boolean
  /** Leadership is being handed over (controlled shutdown, preferred leader): no new writes. */
  handingOff: string | undefined
  transitioning: boolean
  retryMs: number
  removed: boolean
  chain: Promise<void>
}

export class ReplicationManager {
  readonly #config: BrokerConfig
  readonly #broker: Broker
  readonly #meta: ClusterMetadata
  readonly #logger: ReplicationLogger
  readonly #client: ReplicaClient
  readonly #replicas = new Map<string, LocalReplica>()
  /** Followers' long polls wait here for the leader's log end offset to move. */
  readonly #waiters = new PartitionWaiters()
  readonly #isrTimer: NodeJS.Timeout
  readonly #roleListeners: Array<(change: RoleChange) => void> = []
  #closed = false
  /** Controlled shutdown began: this broker takes no new role but the leaderships it holds. */
  #leaving = false

  constructor(config: BrokerConfig, broker: Broker, meta: ClusterMetadata, logger: ReplicationLogger) {
    this.#config = config
    this.#broker = broker
    this.#meta = meta
    this.#logger = logger
    this.#client = new ReplicaClient(config, config.interBrokerToken)
    broker.onPartitionState((state) => this.#onPartitionState(state))
    const every = Math.min(ISR_CHECK_MAX_INTERVAL_MS, Math.max(50, config.replicaLagMaxMs / 2))
    this.#isrTimer = setInterval(() => this.#checkLaggingFollowers(), every)
    this.#isrTimer.unref()
  }

  /** Called after every role change of a local replica (the group coordinator hand-off listens). */
  onRoleChange(listener: (change: RoleChange) => void): void {
    this.#roleListeners.push(listener)
  }

  /** The role of a local replica (tests, /v1/cluster diagnostics). */
  roleOf(topic: string, partition: number): Role | undefined {
    return this.#replicas.get(partitionKey(topic, partition))?.role
  }

  /** Moves every local replica towards what etcd says; replicas no longer listed stop. */
  apply(desired: readonly DesiredReplica[]): void {
    if (this.#closed) return
    const listed = new Set<string>()
    for (const d of desired) {
      const key = partitionKey(d.topic, d.partition)
      listed.add(key)
      let r = this.#replicas.get(key)
      if (!r) {
        r = newReplica(key, d)
        this.#replicas.set(key, r)
      }
      r.desired = d
      if (this.#needsTransition(r)) this.#enqueue(r)
      else if (r.role === 'leader' && r.leader && d.modRevision >= r.modRevision) {
        r.modRevision = d.modRevision
        // A reassignment adds followers (they fetch, and join the ISR once caught up) and removes them.
        r.leader.setReplicas(d.replicas, Date.now())
        r.leader.setIsr(d.record.isr)
        this.#pushBound(r).catch(() => undefined)
      }
    }
    for (const r of this.#replicas.values()) {
      if (listed.has(r.key) || r.removed) continue
      r.removed = true
      this.#enqueue(r)
    }
  }

  /** Resolves once every transition queued so far has run (start-up waits for the first roles). */
  async settled(): Promise<void> {
    await Promise.all([...this.#replicas.values()].map((r) => r.chain))
  }

  /** The lease may have lapsed: wake everything waiting so that it re-checks and refuses. */
  suspend(): void {
    for (const r of this.#replicas.values()) this.#wake(r)
  }

  /** The listener's certificate files were reloaded: calls to leaders use the new key pair. */
  /** The inter-broker HTTP client (credentials, TLS), shared with the group coordinator's reads. */
  get client(): ReplicaClient {
    return this.#client
  }

  reloadTls(): void {
    this.#client.reloadTls()
  }

  /**
   * Controlled shutdown (Kafka's): every leadership held here goes to an in-sync follower in the
   * next leader epoch, without this broker in the ISR, and this broker leaves the ISR of what it
   * follows. Each led partition first takes no new writes and waits until its in-sync followers
   * hold its whole log (HW = log end: this broker goes on serving their fetches meanwhile), so the
   * new leader has every confirmed write and every one still waiting for its confirm. Followers stop
   * fetching at once: a leader must not take a leaving broker back into its ISR. Nothing waits past
   * `deadline`; what could not be handed over is moved by the controller once our lease is revoked.
   */
  async leave(deadline: number): Promise<void> {
    if (this.#closed || this.#leaving) return
    this.#leaving = true
    if (!this.#meta.leaseValid()) return
    for (const r of this.#replicas.values()) if (this.#needsTransition(r)) this.#enqueue(r)
    const moves: Promise<void>[] = []
    for (const r of this.#replicas.values()) {
      if (r.removed) continue
      moves.push(
        r.role === 'leader' ? this.#handOff(r, deadline).then(() => undefined) : this.#leaveIsr(r, deadline),
      )
    }
    await Promise.all(moves)
  }

  /**
   * Preferred-leader election, leader side: hands a partition led here in `leaderEpoch` to its
   * preferred replica (the first assigned) the way controlled shutdown does: no new writes, the
   * in-sync followers catch up (HW = log end), then the record moves by CAS to the next epoch. This
   * broker stays in the ISR (it holds the whole log) and follows. Every confirmed write is on the new
   * leader, and a write refused meanwhile (NOT_LEADER) is retried there by its producer.
   * A reassignment that moves this broker out of the replicas picks an in-sync target replica
   * instead (cluster/reassignment.ts); while one runs, no other hand-over is made.
   */
  async handToPreferred(topic: string, partition: number, leaderEpoch: number): Promise<PreferredMove> {
    const r = this.#leading(topic, partition)
    if (r.epoch !== leaderEpoch) {
      throw new NotLeaderError(`${topic}/${partition} is led here in epoch ${r.epoch}, not ${leaderEpoch}`, {
        topic,
        partition,
        leaderEpoch: r.epoch,
      })
    }
    // A reassignment that moves this broker out hands leadership to an in-sync target replica.
    const record = r.desired.record
    const successor = successorInTarget(record, r.leader.isr, (id) => this.#meta.isAlive(id))
    if (successor === undefined && isReassigning(record)) {
      const leaving = record.removingReplicas?.includes(this.#config.brokerId) ?? false
      const reason = leaving
        ? 'no target replica of the reassignment is alive and in sync'
        : 'a reassignment of the partition is under way'
      return { moved: false, reason }
    }
    const preferred = successor ?? r.desired.replicas[0]
    if (preferred === undefined || preferred === this.#config.brokerId)
      return { moved: false, reason: 'leads already' }
    if (this.#leaving || r.handingOff) return { moved: false, reason: 'a hand-over is under way' }
    if (!r.leader.isr.includes(preferred) || !this.#meta.isAlive(preferred)) {
      return { moved: false, reason: `broker ${preferred} is not alive and in sync` }
    }
    const moved = await this.#handOff(r, Date.now() + PREFERRED_HANDOFF_MS, preferred)
    // A controlled shutdown that began meanwhile keeps refusing writes.
    if (!moved && !this.#leaving) r.handingOff = undefined
    return moved ? { moved: true } : { moved: false, reason: `broker ${preferred} did not catch up in time` }
  }

  /** Asks the leader of a partition (this broker or another) to hand it to its preferred replica. */
  async moveToPreferred(
    topic: string,
    partition: number,
    leaderId: number,
    leaderEpoch: number,
  ): Promise<PreferredMove> {
    if (leaderId === this.#config.brokerId) return this.handToPreferred(topic, partition, leaderEpoch)
    const url = this.#meta.urlOf(leaderId)
    if (url === undefined) return { moved: false, reason: `no URL known for broker ${leaderId}` }
    return this.#client.handToPreferred(url, topic, partition, leaderEpoch)
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#isrTimer)
    this.#waiters.wakeAll()
    await Promise.allSettled([...this.#replicas.values()].map((r) => r.fetcher?.stop()))
    await this.#client.close()
  }

  // ---- produce and confirms -------------------------------------------------------------------

  /** Throws unless this broker leads the partition now; acks=all also needs a large enough ISR. */
  checkProduce(topic: string, partition: number, acks: Acks): void {
    const r = this.#leading(topic, partition)
    if (r.handingOff) throw this.#meta.notLeader(topic, partition, r.handingOff)
    if (acks === 'all') this.#checkInsync(r)
  }

  /** acks=all: waits for the high watermark to pass `lastOffset`; the durability to report. */
  async awaitReplication(
    topic: string,
    partition: number,
    lastOffset: number,
    acks: Acks,
  ): Promise<Durability | undefined> {
    if (acks !== 'all') return undefined
    const r = this.#leading(topic, partition)
    const epoch = r.epoch
    const key = r.key
    const deadline = Date.now() + this.#config.ackTimeoutMs
    for (;;) {
      if (r.role !== 'leader' || r.epoch !== epoch || r.removed || !this.#meta.leaseValid()) {
        throw this.#meta.notLeader(topic, partition)
      }
      if (this.#broker.partitionState(topic, partition).highWatermark > lastOffset) break
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        throw new AckTimeoutError(
          `offset ${lastOffset} of ${topic}/${partition} did not reach the in-sync replicas in ${this.#config.ackTimeoutMs} ms; it may still land`,
          { topic, partition, offset: lastOffset, isr: r.leader?.isr },
        )
      }
      // Re-checked at least every second: a lapsed lease has no event of its own here.
      await this.#broker.waiters.waitForChange([key], Math.min(remaining, 1000))
    }
    // The fence: a leader that may have lost its lease confirms nothing (checked after the wait).
    if (!this.#meta.leaseValid() || r.role !== 'leader' || r.epoch !== epoch) {
      throw this.#meta.notLeader(topic, partition)
    }
    this.#checkInsync(r, 'after the write')
    return (r.leader?.isr.length ?? 1) > 1 ? 'replicated' : 'fsynced'
  }

  /**
   * Consumers read from the leader only. Without a valid lease (etcd unreachable) the last known
   * leader goes on serving reads: they stop at the high watermark, so they return only committed data.
   */
  checkFetch(topic: string, partition: number): void {
    const r = this.#replicas.get(partitionKey(topic, partition))
    if (r?.role !== 'leader' || r.removed) throw this.#meta.notLeader(topic, partition)
  }

  /** True when this broker holds a replica with a known high watermark (reads of committed data). */
  hasReplica(topic: string, partition: number): boolean {
    const r = this.#replicas.get(partitionKey(topic, partition))
    return r !== undefined && r.role !== 'none' && !r.removed
  }

  /**
   * For the metrics: each follower of each partition this broker leads, with how many records it
   * is behind the leader's log end (from its last fetch; the whole log before its first fetch).
   */
  followerLag(): Array<{ topic: string; partition: number; follower: number; lag: number }> {
    const out: Array<{ topic: string; partition: number; follower: number; lag: number }> = []
    for (const r of this.#replicas.values()) {
      if (r.role !== 'leader' || !r.leader || r.removed) continue
      const logEndOffset = this.#broker.partitionState(r.topic, r.partition).logEndOffset
      for (const follower of r.leader.followers()) {
        const fetched = r.leader.fetchOffsetOf(follower) ?? UNKNOWN_BOUND
        const lag = fetched === UNKNOWN_BOUND ? logEndOffset : Math.max(0, logEndOffset - fetched)
        out.push({ topic: r.topic, partition: r.partition, follower, lag })
      }
    }
    return out
  }

  #leading(topic: string, partition: number): LocalReplica & { leader: LeaderState } {
    const r = this.#replicas.get(partitionKey(topic, partition))
    if (r?.role !== 'leader' || !r.leader || r.removed || !this.#meta.leaseValid()) {
      throw this.#meta.notLeader(topic, partition)
    }
    return r as LocalReplica & { leader: LeaderState }
  }

  #checkInsync(r: LocalReplica & { leader?: LeaderState | undefined }, when = 'before the write'): void {
    const isr = r.leader?.isr ?? []
    if (isr.length >= r.desired.minInsync) return
    throw new NotEnoughReplicasError(
      `${r.topic}/${r.partition} has ${isr.length} in-sync replica(s), acks=all needs ${r.desired.minInsync} (${when})`,
      {
        topic: r.topic,
        partition: r.partition,
        isr,
        minInsyncReplicas: r.desired.minInsync,
        retryAfterMs: 1000,
      },
    )
  }

  // ---- serving followers (leader side) --------------------------------------------------------

  /** A follower's fetch: records its progress, long-polls for new data, returns raw batches. */
  async serveFetch(
    topic: string,
    partition: number,
    q: ReplicaFetchQuery,
    signal?: AbortSignal,
  ): Promise<ReplicaReadResult & { leaderEpoch: number }> {
    const r = this.#leaderFor(topic, partition, q.leaderEpoch, q.replicaId)
    const leader = r.leader
    let logEndOffset = this.#broker.partitionState(topic, partition).logEndOffset
    if (q.offset > logEndOffset) {
      // With partition workers this thread learns of appends by events, which may trail the reads a
      // follower already got: ask the owner (it throws OFFSET_OUT_OF_RANGE if the offset is past its end).
      const probe = { op: 'replicaRead', topic, partition, offset: q.offset, maxBytes: 1 } as const
      logEndOffset = (await this.#broker.router.request(probe)).logEndOffset
    }
    leader.recordFetch(q.replicaId, q.offset, logEndOffset, Date.now())
    await this.#pushBound(r)
    this.#maybeGrowIsr(r)
    const deadline = Date.now() + Math.min(q.maxWaitMs, this.#config.maxWaitMsLimit)
    for (;;) {
      const remaining = deadline - Date.now()
      const moved = this.#broker.partitionState(topic, partition).logEndOffset > q.offset
      if (moved || remaining <= 0 || signal?.aborted || r.leader !== leader || this.#closed) break
      await this.#waiters.waitForChange([r.key], remaining, signal)
    }
    if (r.leader !== leader || !this.#meta.leaseValid()) throw this.#meta.notLeader(topic, partition)
    const read = await this.#broker.router.request({
      op: 'replicaRead',
      topic,
      partition,
      offset: q.offset,
      maxBytes: Math.min(q.maxBytes, this.#config.replicaFetchMaxBytes),
    })
    return { ...read, leaderEpoch: r.epoch }
  }

  /** OffsetsForLeaderEpoch: where `epoch` ends in the leader's log. */
  async epochEnd(
    topic: string,
    partition: number,
    q: { epoch: number; leaderEpoch: number; replicaId: number },
  ): Promise<EpochEndOffset> {
    this.#leaderFor(topic, partition, q.leaderEpoch, q.replicaId)
    const epochs = await this.#broker.router.request({ op: 'epochs', topic, partition })
    return endOffsetForEpoch(epochs.entries, q.epoch, epochs.logEndOffset)
  }

  #leaderFor(
    topic: string,
    partition: number,
    leaderEpoch: number,
    replicaId: number,
  ): LocalReplica & { leader: LeaderState } {
    const r = this.#leading(topic, partition)
    if (leaderEpoch !== r.epoch) {
      throw new NotLeaderError(
        `${topic}/${partition} is led here in epoch ${r.epoch}, not ${leaderEpoch}; refresh metadata`,
        { topic, partition, leaderEpoch: r.epoch, reason: 'leader epoch mismatch' },
      )
    }
    if (!r.leader.isFollower(replicaId)) {
      throw new InvalidRequestError(`broker ${replicaId} is not a replica of ${topic}/${partition}`, {
        replicaId,
      })
    }
    return r
  }

  // ---- high watermark and ISR (leader side) ---------------------------------------------------

  async #pushBound(r: LocalReplica): Promise<void> {
    const leader = r.leader
    if (!leader) return
    const bound = leader.highWatermarkBound()
    if (bound === UNKNOWN_BOUND || bound === r.lastBound) return
    r.lastBound = bound
    await this.#broker.router.request({ op: 'highWatermark', topic: r.topic, partition: r.partition, bound })
  }

  #maybeGrowIsr(r: LocalReplica): void {
    const leader = r.leader
    if (!leader || r.isrBusy) return
    const hw = this.#broker.partitionState(r.topic, r.partition).highWatermark
    const joining = leader.readyToJoin(hw)
    if (joining.length === 0) return
    for (const id of joining) leader.markJoining(id)
    const isr = [...new Set([...leader.isr, ...joining])].sort((a, b) => a - b)
    this.#writeIsr(r, leader, isr, () => {
      for (const id of joining) leader.joinFailed(id)
    }).then((ok) => {
      if (ok) this.#logger.info({ topic: r.topic, partition: r.partition, joined: joining, isr }, 'ISR grew')
    })
  }

  #checkLaggingFollowers(): void {
    const now = Date.now()
    for (const r of this.#replicas.values()) {
      const leader = r.leader
      if (r.role !== 'leader' || !leader || r.isrBusy || !this.#meta.leaseValid()) continue
      const lagging = leader.lagging(now, this.#config.replicaLagMaxMs)
      if (lagging.length === 0) continue
      const isr = leader.isr.filter((id) => !lagging.includes(id))
      this.#writeIsr(r, leader, isr, () => undefined).then((ok) => {
        if (ok)
          this.#logger.warn(
            { topic: r.topic, partition: r.partition, left: lagging, isr },
            `follower(s) fell more than ${this.#config.replicaLagMaxMs} ms behind and left the ISR`,
          )
      })
    }
  }

  /** CAS of the ISR, guarded by the record's mod revision (and so by this leader's epoch). */
  async #writeIsr(r: LocalReplica, leader: LeaderState, isr: number[], onFail: () => void): Promise<boolean> {
    r.isrBusy = true
    try {
      const record: PartitionRecord = {
        ...r.desired.record,
        leader: leader.brokerId,
        leaderEpoch: leader.leaderEpoch,
        isr,
      }
      const revision = await this.#meta.updatePartition(r.topic, r.partition, r.modRevision, record)
      if (revision === undefined || r.leader !== leader) {
        onFail()
        return false
      }
      r.modRevision = revision
      leader.setIsr(isr)
      await this.#pushBound(r)
      this.#wake(r)
      return true
    } catch (err) {
      onFail()
      this.#logger.warn({ topic: r.topic, partition: r.partition, err }, 'ISR update failed')
      return false
    } finally {
      r.isrBusy = false
    }
  }

  // ---- controlled shutdown --------------------------------------------------------------------

  /**
   * Hands leadership over: to the first caught-up live in-sync follower, leaving the ISR (controlled
   * shutdown), or to `preferred`, staying in the ISR. True once the record moved.
   */
  async #handOff(r: LocalReplica, deadline: number, preferred?: number): Promise<boolean> {
    const leader = r.leader
    if (!leader) return false
    const stillLeading = () => r.leader === leader && r.role === 'leader' && !this.#closed
    r.handingOff =
      preferred === undefined
        ? 'handing leadership over (shutting down)'
        : `handing leadership over to the preferred replica ${preferred}`
    const { topic, partition } = r
    // The in-sync followers catch up with everything appended, confirmed or still waiting.
    for (;;) {
      const state = this.#broker.partitionState(topic, partition)
      const remaining = deadline - Date.now()
      if (!stillLeading() || state.highWatermark >= state.logEndOffset || remaining <= 0) break
      await this.#broker.waiters.waitForChange([r.key], Math.min(remaining, 100))
    }
    const me = this.#config.brokerId
    let moved = false
    while (stillLeading()) {
      const end = this.#broker.partitionState(topic, partition).logEndOffset
      const isr = leader.isr
      const candidates = r.desired.replicas.filter(
        (id) => id !== me && isr.includes(id) && this.#meta.isAlive(id) && (preferred ?? id) === id,
      )
      const caughtUp = candidates.find((id) => (leader.fetchOffsetOf(id) ?? -1) >= end)
      // Controlled shutdown takes a lagging follower over none; a preferred leader must hold it all.
      const next = preferred === undefined ? (caughtUp ?? candidates[0]) : caughtUp
      if (next === undefined) {
        this.#logger.warn(
          { topic, partition, isr, preferred },
          'no live in-sync follower to hand leadership to',
        )
        return false
      }
      const record: PartitionRecord = {
        ...r.desired.record,
        leader: next,
        leaderEpoch: leader.leaderEpoch + 1,
        isr: preferred === undefined ? isr.filter((id) => id !== me) : isr,
      }
      const revision = await this.#meta
        .updatePartition(topic, partition, r.modRevision, record)
        .catch(() => undefined)
      if (revision !== undefined) {
        const why = preferred === undefined ? 'controlled shutdown' : 'preferred leader'
        this.#logger.info({ topic, partition, to: record }, `handed leadership over (${why})`)
        moved = true
        break
      }
      // The record moved (an ISR change): the watch brings it, then we try again.
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // The new leader is in place once our own view has moved us off (the same etcd revision).
    while (stillLeading() && Date.now() < deadline) {
      await this.#broker.waiters.waitForChange([r.key], Math.min(deadline - Date.now(), 100))
    }
    return moved
  }

  async #leaveIsr(r: LocalReplica, deadline: number): Promise<void> {
    const me = this.#config.brokerId
    // Its fetcher stops first: a leader takes a follower that still fetches back into the ISR.
    await r.chain
    while (!this.#closed && !r.removed) {
      const d = r.desired
      const { leader, isr } = d.record
      if (!isr.includes(me) || leader === me || leader === NO_LEADER) return
      const record: PartitionRecord = { ...d.record, isr: isr.filter((id) => id !== me) }
      const revision = await this.#meta
        .updatePartition(r.topic, r.partition, d.modRevision, record)
        .catch(() => undefined)
      if (revision !== undefined || Date.now() >= deadline) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  // ---- transitions ----------------------------------------------------------------------------

  #targetOf(r: LocalReplica, d: DesiredReplica): Role {
    const leader = d.record.leader
    if (this.#leaving) {
      // A leaving broker keeps only the leaderships it holds (until it hands them over).
      const holds = r.role === 'leader' && r.epoch === d.record.leaderEpoch && leader === r.leaderId
      return holds ? 'leader' : 'waiting'
    }
    if (leader === this.#config.brokerId) return d.mayLead ? 'leader' : 'waiting'
    return leader === NO_LEADER ? 'waiting' : 'follower'
  }

  #needsTransition(r: LocalReplica): boolean {
    if (r.removed) return true
    const d = r.desired
    return (
      this.#targetOf(r, d) !== r.role || d.record.leaderEpoch !== r.epoch || d.record.leader !== r.leaderId
    )
  }

  #enqueue(r: LocalReplica): void {
    r.chain = r.chain.then(() => this.#transition(r))
  }

  async #transition(r: LocalReplica): Promise<void> {
    if (this.#closed || !this.#needsTransition(r)) return
    r.transitioning = true
    try {
      await this.#stopRole(r)
      if (r.removed) {
        this.#replicas.delete(r.key)
        return
      }
      const d = r.desired
      const target = this.#targetOf(r, d)
      await this.#broker.router.request({
        op: 'replicaState',
        topic: r.topic,
        partition: r.partition,
        role: target === 'leader' ? 'leader' : 'follower',
        leaderEpoch: d.record.leaderEpoch,
      })
      r.epoch = d.record.leaderEpoch
      r.leaderId = d.record.leader
      r.modRevision = d.modRevision
      if (target === 'leader') this.#startLeading(r, d)
      else if (target === 'follower') this.#startFollowing(r, d)
      r.role = target
      r.retryMs = 0
      this.#logger.info(
        { topic: r.topic, partition: r.partition, role: target, leader: r.leaderId, leaderEpoch: r.epoch },
        'replica role changed',
      )
      if (target === 'leader') await this.#pushBound(r)
      const change: RoleChange = {
        topic: r.topic,
        partition: r.partition,
        role: target,
        leaderEpoch: r.epoch,
      }
      for (const listener of this.#roleListeners) listener(change)
    } catch (err) {
      r.role = 'none'
      if (!this.#closed) {
        // Doubling waits: an offline log fails every time and must not flood the log.
        r.retryMs = Math.min(MAX_TRANSITION_RETRY_MS, r.retryMs * 2 || TRANSITION_RETRY_MS)
        this.#logger.warn(
          { topic: r.topic, partition: r.partition, err, retryInMs: r.retryMs },
          'replica transition failed; retrying',
        )
        setTimeout(() => this.#enqueue(r), r.retryMs).unref()
      }
    } finally {
      r.transitioning = false
    }
  }

  async #stopRole(r: LocalReplica): Promise<void> {
    if (r.role !== 'none') {
      const change: RoleChange = {
        topic: r.topic,
        partition: r.partition,
        role: 'none',
        leaderEpoch: r.epoch,
      }
      for (const listener of this.#roleListeners) listener(change)
    }
    const fetcher = r.fetcher
    r.fetcher = undefined
    r.leader = undefined
    r.role = 'none'
    r.epoch = -1
    r.leaderId = NO_LEADER
    r.lastBound = Number.NaN
    this.#wake(r)
    await fetcher?.stop()
  }

  #startLeading(r: LocalReplica, d: DesiredReplica): void {
    r.handingOff = undefined
    r.leader = new LeaderState({
      brokerId: this.#config.brokerId,
      leaderEpoch: d.record.leaderEpoch,
      replicas: d.replicas,
      isr: d.record.isr,
      nowMs: Date.now(),
    })
  }

  #startFollowing(r: LocalReplica, d: DesiredReplica): void {
    const leaderId = d.record.leader
    r.fetcher = new ReplicaFetcher({
      topic: r.topic,
      partition: r.partition,
      brokerId: this.#config.brokerId,
      leaderId,
      leaderEpoch: d.record.leaderEpoch,
      leaderUrl: () => this.#meta.urlOf(leaderId),
      router: this.#broker.router,
      client: this.#client,
      maxWaitMs: this.#config.replicaFetchWaitMs,
      maxBytes: this.#config.replicaFetchMaxBytes,
      // Only a replica joining through a reassignment is throttled (Kafka's replication throttle).
      throttleBytesPerSec: () => {
        const record = r.desired.record
        return record.addingReplicas?.includes(this.#config.brokerId) ? record.throttleBytesPerSec : undefined
      },
      logger: this.#logger,
    })
    r.fetcher.start()
  }

  #wake(r: LocalReplica): void {
    this.#waiters.notify(r.key)
    this.#broker.waiters.notify(r.key)
  }

  #onPartitionState(state: PartitionState): void {
    const r = this.#replicas.get(partitionKey(state.topic, state.partition))
    if (!r) return
    if (state.logEndOffset !== r.lastLogEndOffset) {
      r.lastLogEndOffset = state.logEndOffset
      if (r.role === 'leader') this.#waiters.notify(r.key)
    }
    // A partition worker that restarted re-opened the log without its role: set it again.
    if (!r.transitioning && r.role !== 'none' && state.replicaRole === undefined) {
      this.#logger.warn({ topic: r.topic, partition: r.partition }, 'replica lost its role (worker restart)')
      r.role = 'none'
      this.#enqueue(r)
    }
  }
}

function newReplica(key: string, d: DesiredReplica): LocalReplica {
  return {
    key,
    topic: d.topic,
    partition: d.partition,
    desired: d,
    role: 'none',
    epoch: -1,
    leaderId: NO_LEADER,
    modRevision: d.modRevision,
    leader: undefined,
    fetcher: undefined,
    lastBound: Number.NaN,
    lastLogEndOffset: -1,
    isrBusy: false,
    handingOff: undefined,
    transitioning: false,
    retryMs: 0,
    removed: false,
    chain: Promise.resolve(),
  }
}
