/**
 * The reassignment API's side in etcd (`/v1/cluster/reassignments`): checks a request against the
 * cluster view, then starts (or cancels) every partition's reassignment in one transaction that
 * compares each partition record's mod revision, so a request is applied whole or not at all. The
 * controller moves them on from there (controller.ts, reassignment.ts).
 *
 * Refused with nothing written: an unknown topic (TOPIC_NOT_FOUND) or partition
 * (PARTITION_NOT_FOUND), a partition named twice, a replica list with a broker twice, a broker that
 * is not a live member, a list whose length is not the topic's replication factor (a reassignment
 * does not change it), and a partition whose reassignment is already running (cancel it first).
 * Main thread only.
 */
import type { Etcd3 } from 'etcd3'
import type { PartitionReassignment } from '../client/types.js'
import {
  InvalidRequestError,
  NotFoundError,
  NotReadyError,
  PartitionNotFoundError,
  TopicNotFoundError,
} from '../errors.js'
import { ClusterKeys, isReassigning, type PartitionRecord, replicasOf } from './cluster-records.js'
import type { ClusterView } from './cluster-view.js'
import { checkPartitionBudgets, replicasPerBroker } from './partition-budgets.js'
import { cancelReassignment, reassignmentTarget, startReassignment } from './reassignment.js'

/**
 * A request's partitions start in one etcd transaction (all or none), and etcd takes at most
 * `--max-txn-ops` (128 by default) comparisons, and as many writes, in one.
 */
export const MAX_REASSIGNMENTS_PER_REQUEST = 128

/** A compare-and-swap that lost to an ISR change is tried again this many times. */
const CAS_ATTEMPTS = 20
const CAS_RETRY_MS = 100

export interface ReassignmentInput {
  topic: string
  partition: number
  replicas: number[]
}

/** A partition's reassignment as the API shows it (the client library's type). */
export type ReassignmentStatus = PartitionReassignment

interface PlannedWrite {
  topic: string
  partition: number
  modRevision: number
  record: PartitionRecord
}

export class ReassignmentRequests {
  readonly #client: Etcd3
  readonly #view: ClusterView

  constructor(client: Etcd3, view: ClusterView) {
    this.#client = client
    this.#view = view
  }

  /** Every running reassignment, by topic and partition. */
  list(): ReassignmentStatus[] {
    const out: ReassignmentStatus[] = []
    for (const { value: topic } of this.#view.topics.values()) {
      for (let p = 0; p < topic.partitions; p++) {
        const record = this.#view.partition(topic.name, p)?.value
        if (record && isReassigning(record)) out.push(statusOf(topic.name, p, record))
      }
    }
    return out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
  }

  /**
   * Starts the reassignments (all or none); the etcd revision that holds them (undefined when every
   * partition already has its target replicas, in that order) and their status.
   */
  async start(
    inputs: readonly ReassignmentInput[],
    throttleBytesPerSec?: number,
  ): Promise<{ revision: number | undefined; reassignments: ReassignmentStatus[] }> {
    return this.#commit(() => this.#planStart(inputs, throttleBytesPerSec))
  }

  /** Cancels a running reassignment: the partition goes back to the replicas it had before. */
  async cancel(
    topic: string,
    partition: number,
  ): Promise<{ revision: number | undefined; reassignments: ReassignmentStatus[] }> {
    return this.#commit(() => {
      const current = this.#current(topic, partition)
      const result = cancelReassignment(current.value, (id) => this.#view.brokers.has(id))
      if (result === undefined) {
        throw new NotFoundError(`no reassignment of ${topic}/${partition} is running`, { topic, partition })
      }
      if ('refused' in result) {
        throw new InvalidRequestError(
          `cannot cancel the reassignment of ${topic}/${partition}: ${result.refused}`,
          {
            topic,
            partition,
          },
        )
      }
      return [{ topic, partition, modRevision: current.modRevision, record: result.record }]
    })
  }

  async #commit(
    plan: () => PlannedWrite[],
  ): Promise<{ revision: number | undefined; reassignments: ReassignmentStatus[] }> {
    for (let attempt = 1; ; attempt++) {
      // Planned from the view each time: a refusal (4xx) comes before anything is written.
      const writes = plan()
      const reassignments = writes.map((w) => statusOf(w.topic, w.partition, w.record))
      if (writes.length === 0) return { revision: undefined, reassignments }
      let txn = this.#client.if(
        ClusterKeys.partition(writes[0]?.topic ?? '', writes[0]?.partition ?? 0),
        'Mod',
        '==',
        writes[0]?.modRevision ?? 0,
      )
      for (const w of writes.slice(1)) {
        txn = txn.and(ClusterKeys.partition(w.topic, w.partition), 'Mod', '==', w.modRevision)
      }
      const res = await txn
        .then(
          ...writes.map((w) =>
            this.#client.put(ClusterKeys.partition(w.topic, w.partition)).value(JSON.stringify(w.record)),
          ),
        )
        .commit()
      if (res.succeeded) return { revision: Number(res.header.revision), reassignments }
      // A leader changed an ISR meanwhile: the watch brings it, then we plan again.
      if (attempt >= CAS_ATTEMPTS) {
        throw new NotReadyError('the partitions kept changing while the reassignment was written; retry')
      }
      await new Promise((resolve) => setTimeout(resolve, CAS_RETRY_MS))
    }
  }

  #planStart(inputs: readonly ReassignmentInput[], throttleBytesPerSec?: number): PlannedWrite[] {
    const seen = new Set<string>()
    const writes: PlannedWrite[] = []
    inputs.forEach((input, i) => {
      const { topic: name, partition, replicas: target } = input
      const key = `${name}/${partition}`
      if (seen.has(key)) {
        throw new InvalidRequestError(`partition ${key} is named twice`, { topic: name, partition })
      }
      seen.add(key)
      const current = this.#current(name, partition)
      const topic = this.#view.topics.get(name)?.value
      if (!topic) throw new TopicNotFoundError(`topic ${name} does not exist`, { topic: name })
      const field = `partitions/${i}/replicas`
      if (new Set(target).size !== target.length) {
        throw new InvalidRequestError(`the replicas of ${key} name a broker twice`, {
          field,
          replicas: target,
        })
      }
      if (target.length !== topic.replicationFactor) {
        throw new InvalidRequestError(
          `${key} needs ${topic.replicationFactor} replicas (the topic's replication factor; a reassignment does not change it), ${target.length} given`,
          { field, replicas: target, replicationFactor: topic.replicationFactor },
        )
      }
      for (const id of target) {
        if (!this.#view.members.has(id) && !this.#view.brokers.has(id)) {
          throw new InvalidRequestError(`broker ${id} is not a member of the cluster`, {
            field,
            brokerId: id,
          })
        }
        if (!this.#view.brokers.has(id)) {
          throw new InvalidRequestError(`broker ${id} is not alive`, { field, brokerId: id })
        }
      }
      if (isReassigning(current.value)) {
        throw new InvalidRequestError(
          `a reassignment of ${key} is already running (to ${reassignmentTarget(current.value)?.join(',')}); cancel it first`,
          { topic: name, partition },
        )
      }
      const replicas = replicasOf(topic, partition, current.value)
      if (replicas.length === target.length && replicas.every((id, k) => id === target[k])) return
      writes.push({
        topic: name,
        partition,
        modRevision: current.modRevision,
        record: startReassignment(current.value, replicas, target, throttleBytesPerSec),
      })
    })
    checkPartitionBudgets(this.#view, replicasPerBroker(writes.map((w) => w.record.addingReplicas ?? [])))
    return writes
  }

  #current(name: string, partition: number): { value: PartitionRecord; modRevision: number } {
    const topic = this.#view.topics.get(name)?.value
    if (!topic) throw new TopicNotFoundError(`topic ${name} does not exist`, { topic: name })
    if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
      throw new PartitionNotFoundError(`topic ${name} has no partition ${partition}`, {
        topic: name,
        partition,
        partitions: topic.partitions,
      })
    }
    const current = this.#view.partition(name, partition)
    if (!current) throw new NotReadyError(`${name}/${partition} is not known here yet; retry`)
    return current
  }
}

function statusOf(topic: string, partition: number, record: PartitionRecord): ReassignmentStatus {
  const replicas = record.replicas ?? []
  const status: ReassignmentStatus = {
    topic,
    partition,
    replicas,
    targetReplicas: reassignmentTarget(record) ?? replicas,
    addingReplicas: record.addingReplicas ?? [],
    removingReplicas: record.removingReplicas ?? [],
    leader: record.leader,
    isr: record.isr,
  }
  if (record.throttleBytesPerSec !== undefined) status.throttleBytesPerSec = record.throttleBytesPerSec
  return status
}
