/**
 * Consumer groups in a cluster: a group's coordinator is the leader of the `__consumer_offsets`
 * partition that holds the group's records, so a group's membership, fetches and commits all go to
 * one broker, and its commits replicate like any data.
 *
 * Other brokers answer the group's requests with NOT_LEADER naming the coordinator (the client
 * follows it). A broker that becomes leader of an offsets partition first waits until its high
 * watermark has reached the log end it had when elected (everything a previous coordinator
 * confirmed is then known committed here), then reloads that partition's committed offsets from its
 * replica; until then the partition's groups get NOT_READY (retriable). Members of the previous
 * coordinator are unknown here and join again; they resume from the committed offsets.
 * Main thread only.
 */
import type { Broker } from '../broker/broker.js'
import type { GroupCoordinator } from '../broker/groups/index.js'
import { OFFSETS_TOPIC } from '../broker/groups/index.js'
import { NotLeaderError, NotReadyError } from '../errors.js'
import type { ReplicationLogger, RoleChange } from '../replication/replication-manager.js'
import type { ClusterNode } from './cluster-node.js'

/** How long a new coordinator waits for its high watermark before loading what it has. */
const CATCH_UP_WAIT_MS = 15_000

export class CoordinatorHandoff {
  readonly #node: ClusterNode
  readonly #broker: Broker
  readonly #groups: GroupCoordinator
  readonly #logger: ReplicationLogger
  /** Offsets partitions led here whose groups are loaded, with the epoch they were loaded in. */
  readonly #loaded = new Map<number, number>()
  /** The epoch each offsets partition is led in here (absent when not led here). */
  readonly #leading = new Map<number, number>()

  constructor(node: ClusterNode, broker: Broker, groups: GroupCoordinator, logger: ReplicationLogger) {
    this.#node = node
    this.#broker = broker
    this.#groups = groups
    this.#logger = logger
    node.replication.onRoleChange((change) => this.#onRoleChange(change))
  }

  /** Throws unless this broker coordinates `group` now (NOT_LEADER names the coordinator). */
  check(group: string): void {
    const partition = this.#groups.partitionOf(group)
    if (!this.#leading.has(partition)) {
      const err = this.#node.notLeader(OFFSETS_TOPIC, partition)
      throw new NotLeaderError(`group "${group}" is coordinated elsewhere: ${err.message}`, {
        ...err.details,
        group,
      })
    }
    if (this.#loaded.get(partition) !== this.#leading.get(partition)) {
      throw new NotReadyError(`group "${group}" is loading its committed offsets here; retry shortly`, {
        group,
        retryAfterMs: 200,
      })
    }
  }

  #onRoleChange(change: RoleChange): void {
    if (change.topic !== OFFSETS_TOPIC) return
    const p = change.partition
    this.#loaded.delete(p)
    if (change.role !== 'leader') {
      this.#leading.delete(p)
      return
    }
    this.#leading.set(p, change.leaderEpoch)
    this.#takeOver(p, change.leaderEpoch).catch((err: unknown) => {
      this.#logger.error(
        { err, partition: p },
        'loading committed offsets failed; groups of this partition stay unavailable',
      )
    })
  }

  async #takeOver(partition: number, epoch: number): Promise<void> {
    const stillLeading = () => this.#leading.get(partition) === epoch && !this.#node.closed
    const target = this.#broker.partitionState(OFFSETS_TOPIC, partition).logEndOffset
    const deadline = Date.now() + CATCH_UP_WAIT_MS
    while (stillLeading() && Date.now() < deadline) {
      if (this.#broker.partitionState(OFFSETS_TOPIC, partition).highWatermark >= target) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (!stillLeading()) return
    await this.#groups.takeOver(partition)
    if (stillLeading()) {
      this.#loaded.set(partition, epoch)
      this.#logger.info(
        { partition, leaderEpoch: epoch },
        'coordinating the groups of this offsets partition',
      )
    }
  }
}
