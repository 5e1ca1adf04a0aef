/**
 * The controller: the one broker (elected through etcd) that moves leadership when brokers come
 * and go.
 *
 * Election: a transaction creates `/strata/controller` bound to this broker's lease only if the key
 * is absent; when the holder's lease lapses, etcd deletes the key and every broker tries again.
 *
 * Duty: after every change of the cluster view it walks all partitions and writes, by
 * compare-and-swap on the record's mod revision, what leader-election.ts decides: a new leader from
 * the live ISR with the next epoch when the leader died, a new epoch for a leader that re-registered
 * since its epoch was granted (it restarted: its unflushed tail may be gone, and it must not append
 * again in an epoch whose offsets its followers may already hold), a leaderless partition when no
 * in-sync replica lives, and dead followers out of the ISR. A failed swap means someone else wrote
 * first; the watch brings the new record and the next pass decides again.
 *
 * Preferred leaders: a pass also finds partitions whose preferred replica (the first assigned) is
 * alive and in sync but does not lead, and asks their leader to hand over (it does so cleanly, as
 * in a controlled shutdown: replication-manager.ts `handToPreferred`). Passes run after every
 * change of the view (a returning broker rejoining an ISR is one) and every `intervalMs`; a
 * partition whose hand-over failed is not asked again before the next interval. Any broker answers
 * an election on demand (`electPreferredLeaders`). A partition being reassigned takes no
 * preferred-leader move: its reassignment decides where leadership goes.
 *
 * Reassignments (cluster/reassignment.ts): the same passes move them on. Once every joining replica
 * is in the ISR, a leader that leaves the replica set is asked to hand over to an in-sync target
 * replica (the same clean hand-over as a preferred-leader election), and then the record completes
 * by compare-and-swap. All of it is in the partition record, so a new controller carries on where
 * the previous one stopped.
 * Main thread only.
 */
import type { Etcd3 } from 'etcd3'
import { InvalidRequestError, PartitionNotFoundError, TopicNotFoundError } from '../errors.js'
import { ClusterKeys, isReassigning, type PartitionRecord, replicasOf } from './cluster-records.js'
import type { ClusterView } from './cluster-view.js'
import { electLeader, preferredLeaderMove } from './leader-election.js'
import { reassignmentStep } from './reassignment.js'

/** A reassignment's leader hand-over that failed is asked again after this. */
const REASSIGNMENT_RETRY_MS = 1_000

export interface PreferredLeaders {
  /** Asks the leader of a partition to hand it to its preferred replica. */
  move(
    topic: string,
    partition: number,
    leader: number,
    leaderEpoch: number,
  ): Promise<{ moved: boolean; reason?: string }>
  /** Automatic elections: every this many ms and after every change of the view; 0 turns them off. */
  intervalMs: number
}

/** One partition's outcome of a preferred-leader election. */
export interface PreferredElection {
  topic: string
  partition: number
  preferredLeader: number
  /** The leader when the election began. */
  leader: number
  moved: boolean
  /** Why leadership did not move. */
  reason?: string
}

export interface ControllerLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export class Controller {
  readonly #client: Etcd3
  readonly #view: ClusterView
  readonly #brokerId: number
  readonly #logger: ControllerLogger
  #active = false
  #campaigning = false
  #running: Promise<void> | undefined
  #again = false
  readonly #preferred: PreferredLeaders | undefined
  /** Partitions whose automatic hand-over is in flight, and when a failed one may be asked again. */
  readonly #moving = new Set<string>()
  readonly #moveAgainAt = new Map<string, number>()
  /** A pass that follows up a reassignment's hand-over, when one is pending. */
  #retryTimer: NodeJS.Timeout | undefined

  constructor(
    client: Etcd3,
    view: ClusterView,
    brokerId: number,
    logger: ControllerLogger,
    preferred?: PreferredLeaders,
  ) {
    this.#client = client
    this.#view = view
    this.#brokerId = brokerId
    this.#logger = logger
    this.#preferred = preferred
    if (preferred && preferred.intervalMs > 0)
      setInterval(() => this.reconcile(), preferred.intervalMs).unref()
  }

  get active(): boolean {
    return this.#active
  }

  /** Tries to become controller with this lease (a no-op if someone holds the key). */
  async campaign(leaseId: string): Promise<void> {
    if (this.#campaigning) return
    this.#campaigning = true
    try {
      const key = ClusterKeys.controller
      const res = await this.#client
        .if(key, 'Create', '==', 0)
        .then(
          this.#client
            .put(key)
            .value(JSON.stringify({ id: this.#brokerId }))
            .lease(leaseId),
        )
        .else(this.#client.get(key))
        .commit()
      const holder = res.succeeded
        ? this.#brokerId
        : parseHolder(
            res.responses[0]?.response_range?.kvs[0]?.value,
            res.responses[0]?.response_range?.kvs[0]?.lease,
            leaseId,
            this.#brokerId,
          )
      const was = this.#active
      this.#active = holder === this.#brokerId
      if (this.#active && !was) {
        this.#logger.info({ brokerId: this.#brokerId }, 'this broker is now the controller')
        this.reconcile()
      }
    } finally {
      this.#campaigning = false
    }
  }

  /** The lease may have lapsed: stop acting until a campaign succeeds again. */
  resign(): void {
    if (this.#active) this.#logger.warn({ brokerId: this.#brokerId }, 'controller stepped down (lease)')
    this.#active = false
  }

  /** Runs one pass over all partitions (coalesced: a pass requested while one runs runs after it). */
  reconcile(): void {
    if (!this.#active) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = this.#pass()
      .catch((err: unknown) => this.#logger.warn({ err }, 'controller pass failed'))
      .finally(() => {
        this.#running = undefined
        if (this.#again) {
          this.#again = false
          this.reconcile()
        }
      })
  }

  async #pass(): Promise<void> {
    const live = this.#view.liveIds()
    const writes: Promise<void>[] = []
    for (const { value: topic } of this.#view.topics.values()) {
      for (let p = 0; p < topic.partitions; p++) {
        const current = this.#view.partition(topic.name, p)
        if (!current) continue
        const leaderRestarted =
          (this.#view.registrations.get(current.value.leader) ?? 0) > current.modRevision
        const replicas = replicasOf(topic, p, current.value)
        const next = electLeader(current.value, replicas, live, { leaderRestarted })
        if (next) writes.push(this.#write(topic.name, p, current.modRevision, current.value, next))
        else if (leaderRestarted) continue
        else if (isReassigning(current.value)) {
          const step = reassignmentStep(current.value, (id) => live.has(id))
          if (step?.kind === 'complete') {
            writes.push(this.#write(topic.name, p, current.modRevision, current.value, step.record))
          } else if (step?.kind === 'moveLeader') this.#reassignmentMove(topic.name, p, current.value)
        } else if (preferredLeaderMove(current.value, replicas, live) !== undefined) {
          this.#autoMove(topic.name, p, current.value)
        }
      }
    }
    await Promise.all(writes)
  }

  #autoMove(topic: string, partition: number, record: PartitionRecord): void {
    const preferred = this.#preferred
    if (!preferred || preferred.intervalMs <= 0) return
    this.#askLeaderToMove(
      topic,
      partition,
      record,
      preferred.intervalMs,
      'preferred leader election did not move',
    )
  }

  /** A reassignment's leader leaves the replica set: it hands over to an in-sync target replica. */
  #reassignmentMove(topic: string, partition: number, record: PartitionRecord): void {
    this.#askLeaderToMove(
      topic,
      partition,
      record,
      REASSIGNMENT_RETRY_MS,
      'reassignment: the leader did not hand over yet',
    )
    // Nothing else may change in the view until then: a failed hand-over is asked again by itself.
    if (this.#retryTimer) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.reconcile()
    }, REASSIGNMENT_RETRY_MS)
    this.#retryTimer.unref()
  }

  /** One hand-over request at a time per partition; a failed one is not repeated for `retryMs`. */
  #askLeaderToMove(
    topic: string,
    partition: number,
    record: PartitionRecord,
    retryMs: number,
    failure: string,
  ): void {
    const preferred = this.#preferred
    const key = `${topic}/${partition}`
    if (!preferred || this.#moving.has(key) || (this.#moveAgainAt.get(key) ?? 0) > Date.now()) return
    this.#moving.add(key)
    const failed = (reason: unknown) => {
      this.#moveAgainAt.set(key, Date.now() + retryMs)
      this.#logger.info({ topic, partition, leader: record.leader, reason }, failure)
    }
    preferred
      .move(topic, partition, record.leader, record.leaderEpoch)
      .then((result) => {
        if (result.moved) this.#moveAgainAt.delete(key)
        else failed(result.reason)
      }, failed)
      .finally(() => this.#moving.delete(key))
  }

  /**
   * On demand (any broker, controller or not): every partition of `topic` (or of every topic), or
   * only `partitions`, whose preferred replica does not lead is handed to it when it can lead.
   */
  async electPreferredLeaders(filter: {
    topic?: string
    partitions?: number[]
  }): Promise<PreferredElection[]> {
    const preferred = this.#preferred
    if (!preferred) return []
    if (filter.partitions !== undefined && filter.topic === undefined) {
      throw new InvalidRequestError('partitions can only be named together with their topic', {
        partitions: filter.partitions,
      })
    }
    const topics = [...this.#view.topics.values()].map((t) => t.value)
    const chosen = filter.topic === undefined ? topics : topics.filter((t) => t.name === filter.topic)
    if (filter.topic !== undefined && chosen.length === 0) {
      throw new TopicNotFoundError(`topic ${filter.topic} does not exist`, { topic: filter.topic })
    }
    for (const p of filter.partitions ?? []) {
      const count = chosen[0]?.partitions ?? 0
      if (p >= count) {
        throw new PartitionNotFoundError(`topic ${filter.topic} has no partition ${p}`, {
          topic: filter.topic,
          partition: p,
          partitions: count,
        })
      }
    }
    const live = this.#view.liveIds()
    const elections: Promise<PreferredElection>[] = []
    for (const topic of chosen) {
      const partitions = filter.partitions ?? Array.from({ length: topic.partitions }, (_, p) => p)
      for (const p of [...new Set(partitions)].sort((a, b) => a - b)) {
        const record = this.#view.partition(topic.name, p)?.value
        if (!record) continue
        const preferredLeader = replicasOf(topic, p, record)[0]
        if (preferredLeader === undefined) continue
        const base = { topic: topic.name, partition: p, preferredLeader, leader: record.leader }
        if (record.leader === preferredLeader) {
          elections.push(Promise.resolve({ ...base, moved: false, reason: 'the preferred replica leads' }))
          continue
        }
        if (isReassigning(record)) {
          const reason = 'a reassignment of the partition is under way'
          elections.push(Promise.resolve({ ...base, moved: false, reason }))
          continue
        }
        if (preferredLeaderMove(record, replicasOf(topic, p, record), live) === undefined) {
          const reason = `broker ${preferredLeader} is not alive and in sync, or the partition has no live leader`
          elections.push(Promise.resolve({ ...base, moved: false, reason }))
          continue
        }
        elections.push(
          preferred.move(topic.name, p, record.leader, record.leaderEpoch).then(
            (result) => ({ ...base, ...result }),
            (err: unknown) => ({ ...base, moved: false, reason: (err as Error).message }),
          ),
        )
      }
    }
    return Promise.all(elections)
  }

  async #write(
    topic: string,
    partition: number,
    modRevision: number,
    from: PartitionRecord,
    to: PartitionRecord,
  ): Promise<void> {
    if (!this.#active) return
    const key = ClusterKeys.partition(topic, partition)
    const res = await this.#client
      .if(key, 'Mod', '==', modRevision)
      .then(this.#client.put(key).value(JSON.stringify(to)))
      .commit()
    if (res.succeeded) this.#logger.info({ topic, partition, from, to }, 'controller moved a partition')
  }
}

function parseHolder(
  value: Buffer | undefined,
  lease: string | undefined,
  ourLease: string,
  ourId: number,
): number | undefined {
  if (value === undefined) return undefined
  try {
    const id = (JSON.parse(value.toString()) as { id?: unknown }).id
    // Our own key from this very lease (a campaign repeated after a reconnect) is still ours.
    if (id === ourId && lease !== undefined && String(lease) !== String(ourLease)) return undefined
    return typeof id === 'number' ? id : undefined
  } catch {
    return undefined
  }
}
