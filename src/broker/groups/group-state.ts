/**
 * One consumer group's live state, in memory in the main thread: members, the generation, who owns
 * which partition, and where each owned partition will be read next. Only the delivery counts are
 * persisted (in the offset store, with committed offsets and configs); a broker restart or a
 * coordinator change forgets members (they get MEMBER_NOT_FOUND and join again).
 */
import type { TopicPartitionRef } from './assignors.js'
import type { DeliveryCounts } from './delivery-counts.js'

export const GroupStates = {
  /** No members; offsets and config may exist. */
  empty: 'empty',
  /** Some member has not yet been told the current generation (by a join, heartbeat or fetch). */
  rebalancing: 'rebalancing',
  /** Every member knows the current generation and its assignment. */
  stable: 'stable',
} as const
export type GroupState = (typeof GroupStates)[keyof typeof GroupStates]

export interface Member {
  memberId: string
  topics: string[]
  sessionTimeoutMs: number
  autoCommit: boolean
  assignments: TopicPartitionRef[]
  /**
   * What the member said it held when it joined (it joined again after the coordinator changed);
   * honoured by the next rebalance only.
   */
  claimed: TopicPartitionRef[]
  /** The generation this member was last told; behind the group's means it missed a rebalance. */
  knownGeneration: number
  joinedAt: number
  lastSeenAt: number
  /** Requests in progress: a member in a long poll is alive, whatever its session timer says. */
  inflight: number
  /** The assignment index a fetch starts from, so every partition gets its turn. */
  cursor: number
  sessionTimer: NodeJS.Timeout | undefined
}

export class Group {
  readonly name: string
  /** When this coordinator started holding the group (a start, a takeover, or its first member). */
  readonly createdAt = Date.now()
  /**
   * Members of the coordinator before this one are coming back (one joined with what it held):
   * until then, partitions none of them holds are held back for their owners to claim.
   */
  returnUntil = 0
  returnTimer: NodeJS.Timeout | undefined
  generation = 0
  readonly members = new Map<string, Member>()
  /** tpKey → memberId, for the current generation. */
  readonly owners = new Map<string, string>()
  /** tpKey → next offset to deliver to the owner. Absent: start from the committed offset. */
  readonly positions = new Map<string, number>()
  /**
   * tpKey → deliveries of uncommitted records (poison records). Survives owner changes; persisted
   * with the group's offsets (group-fetch.ts), so it survives a coordinator change too.
   */
  readonly deliveries = new Map<string, DeliveryCounts>()
  /** Every topic some member subscribes to, as of the last rebalance. */
  topics: ReadonlySet<string> = new Set()
  /** Members whose session ran out, removed together by the next expiry sweep. */
  readonly expiring = new Set<Member>()
  expirySweep: NodeJS.Timeout | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(name: string) {
    this.name = name
  }

  /** The key long polls of this group wait on, besides their partitions: a rebalance wakes them. */
  get waitKey(): string {
    return `\u0001group\u0000${this.name}`
  }

  get state(): GroupState {
    if (this.members.size === 0) return GroupStates.empty
    for (const m of this.members.values())
      if (m.knownGeneration !== this.generation) return GroupStates.rebalancing
    return GroupStates.stable
  }

  /**
   * Runs reads of this group one at a time: a read takes positions and moves them past what it
   * delivers, and two interleaved reads of one partition would deliver the same records twice.
   */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn)
    this.#queue = run.catch(() => undefined)
    return run
  }
}
