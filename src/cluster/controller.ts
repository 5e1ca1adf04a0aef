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
 * Main thread only.
 */
import type { Etcd3 } from 'etcd3'
import { ClusterKeys, type PartitionRecord } from './cluster-records.js'
import type { ClusterView } from './cluster-view.js'
import { electLeader } from './leader-election.js'

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

  constructor(client: Etcd3, view: ClusterView, brokerId: number, logger: ControllerLogger) {
    this.#client = client
    this.#view = view
    this.#brokerId = brokerId
    this.#logger = logger
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
        const next = electLeader(current.value, topic.assignment[p] ?? [], live, { leaderRestarted })
        if (next) writes.push(this.#write(topic.name, p, current.modRevision, current.value, next))
      }
    }
    await Promise.all(writes)
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
