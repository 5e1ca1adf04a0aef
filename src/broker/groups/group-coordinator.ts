/**
 * Consumer groups: membership, sessions, generations, assignment, commits and the group fetch.
 * One coordinator per broker, in the main thread (single-threaded, so no locks beyond the
 * per-group read queue).
 *
 * Membership. A join adds a member with its topics, session timeout and ack mode, up to
 * `maxGroupMembers` per group; a heartbeat or any other request of the member refreshes its
 * session; a leave, or a session that runs out with no request in progress, removes it. Every
 * change of members (or of the partitions their topics have) bumps the generation and reassigns at
 * once, balanced and sticky (assignors.ts), in time near-linear in members and partitions.
 * Sessions that run out close together are removed by one sweep with one rebalance, so a thousand
 * consumers that vanish at once cost one rebalance, not a thousand. There is no join barrier as in
 * Kafka's protocol: a member learns its new assignment from its next heartbeat or fetch answer, and
 * until every member has, the group reads as `rebalancing`.
 *
 * Fencing. A commit that names a generation other than the current one is STALE_GENERATION, and a
 * member may only commit partitions it owns now, so a member that lost a partition cannot move its
 * offset under the new owner. Partitions that change owner restart from the committed offset.
 *
 * Acks. Manual (default): what was delivered and not committed is delivered again to the next owner
 * (at-least-once). `autoCommit`: the fetch commits what it returns before answering (auto ack:
 * at-most-once, a crash loses what was in flight, as with RabbitMQ's auto ack).
 */
import { randomUUID } from 'node:crypto'
import {
  GroupMaxSizeReachedError,
  GroupNotEmptyError,
  GroupNotFoundError,
  InvalidRequestError,
  MemberNotFoundError,
  NotLeaderError,
  NotReadyError,
  OffsetOutOfRangeError,
  PartitionNotFoundError,
  StaleGenerationError,
} from '../../errors.js'
import { partitionKey } from '../../workers/partition-host.js'
import type { PartitionState } from '../../workers/worker-messages.js'
import type { Broker } from '../broker.js'
import type { FetchBudgetHold } from '../fetch-budget.js'
import { assignPartitions, type TopicPartitionRef, tpKey } from './assignors.js'
import { type DeadLetterWriter, encodeGroupFetch, type GroupLogger, GroupReader } from './group-fetch.js'
import { Group, type GroupState, type Member } from './group-state.js'
import { BrokerOffsetLog } from './offset-log.js'
import { type GroupConfig, OFFSETS_TOPIC, type OffsetLog, OffsetStore } from './offset-store.js'
import { type PartitionBounds, type PartitionLeaders, RemotePartitions } from './remote-partitions.js'

/**
 * How long an expired session waits for others to run out before the sweep removes them all with
 * one rebalance. Sessions last at least `groupMinSessionTimeoutMs` (1 s by default), so 100 ms more
 * is within their tolerance, and members that joined together (a deployment) expire in few sweeps.
 */
const EXPIRY_SWEEP_DELAY_MS = 100

/** How stale the lag of a partition led elsewhere may be in a description before it is asked again. */
const DESCRIPTION_BOUNDS_MAX_AGE_MS = 5_000

export interface JoinRequest {
  topics: readonly string[]
  sessionTimeoutMs?: number | undefined
  autoCommit?: boolean | undefined
  /** The partitions the member held before its coordinator changed (it joins the new one again). */
  owned?: readonly TopicPartitionRef[] | undefined
}

export interface MembershipAnswer {
  generation: number
  assignments: TopicPartitionRef[]
}

export type TopicPartitionOffset = TopicPartitionRef & { offset: number }

export interface CommitRequest {
  memberId?: string | undefined
  generation?: number | undefined
  offsets: readonly TopicPartitionOffset[]
}

export interface GroupFetchRequest {
  maxRecords: number
  maxBytes: number
  maxWaitMs: number
  signal?: AbortSignal | undefined
  /** The POST form: offsets to commit before reading. */
  commit?: readonly TopicPartitionOffset[] | undefined
  generation?: number | undefined
  /** The request's share of the fetch budget; it holds nothing while the poll waits for records. */
  budget?: FetchBudgetHold | undefined
}

export interface GroupOffsetDescription extends TopicPartitionRef {
  committed: number | null
  logEndOffset: number
  lag: number
}

export interface GroupMemberDescription {
  memberId: string
  topics: string[]
  autoCommit: boolean
  sessionTimeoutMs: number
  generation: number
  assignments: TopicPartitionRef[]
  lag: number
  lastSeenMsAgo: number
}

export interface GroupDescription {
  group: string
  state: GroupState
  generation: number
  members: GroupMemberDescription[]
  config: GroupConfig
  lag: number
  offsets: GroupOffsetDescription[]
}

export interface GroupCoordinatorOptions {
  broker: Broker
  /** Defaults to the broker's internal topic `__consumer_offsets`. */
  offsetLog?: OffsetLog
  logger?: GroupLogger
  /** Cluster mode: the partitions this broker holds no replica of are read from their leaders. */
  leaders?: PartitionLeaders | undefined
  /** Cluster mode: dead-letter copies are written on the leaders of the dead-letter topic. */
  deadLetterWriter?: DeadLetterWriter | undefined
}

export class GroupCoordinator {
  readonly #broker: Broker
  readonly #offsetLog: OffsetLog
  readonly #store: OffsetStore
  readonly #reader: GroupReader
  readonly #remote: RemotePartitions | undefined
  readonly #groups = new Map<string, Group>()
  #ready = false
  #closed = false

  constructor(opts: GroupCoordinatorOptions) {
    this.#broker = opts.broker
    this.#offsetLog = opts.offsetLog ?? new BrokerOffsetLog(opts.broker)
    this.#store = new OffsetStore(this.#offsetLog)
    this.#remote = opts.leaders && new RemotePartitions(opts.leaders)
    this.#reader = new GroupReader(opts.broker, this.#store, opts.logger, this.#remote, opts.deadLetterWriter)
  }

  get ready(): boolean {
    return this.#ready && !this.#closed
  }

  /** Opens the internal topic and loads every committed offset and config; run after `broker.start()`. */
  async start(): Promise<void> {
    if (this.#offsetLog instanceof BrokerOffsetLog) await this.#offsetLog.open()
    await this.#store.load()
    this.#broker.onPartitionState((state) => this.#onPartitionState(state))
    this.#broker.onTopicDeleted((topic) => this.onTopicDeleted(topic))
    this.#ready = true
  }

  close(): void {
    this.#closed = true
    for (const group of this.#groups.values()) {
      this.#stopTimers(group)
      this.#broker.waiters.notify(group.waitKey)
    }
  }

  #stopTimers(group: Group): void {
    for (const member of group.members.values()) clearTimeout(member.sessionTimer)
    clearTimeout(group.returnTimer)
    clearTimeout(group.expirySweep)
    group.expirySweep = undefined
  }

  // ---- membership ---------------------------------------------------------------------------

  join(groupName: string, req: JoinRequest): MembershipAnswer & { memberId: string } {
    this.#checkReady()
    const { groupMinSessionTimeoutMs: min, groupMaxSessionTimeoutMs: max } = this.#broker.config
    const sessionTimeoutMs = req.sessionTimeoutMs ?? Math.min(Math.max(10_000, min), max)
    if (sessionTimeoutMs < min || sessionTimeoutMs > max) {
      throw new InvalidRequestError(
        `sessionTimeoutMs must be within [${min}, ${max}] (the broker's group limits)`,
        {
          field: 'sessionTimeoutMs',
          min,
          max,
        },
      )
    }
    const topics = [...new Set(req.topics)].sort()
    for (const topic of topics) this.#broker.topics.get(topic)
    const group = this.#groups.get(groupName) ?? new Group(groupName)
    const { maxGroupMembers } = this.#broker.config
    if (group.members.size >= maxGroupMembers) {
      throw new GroupMaxSizeReachedError(
        `group "${groupName}" has ${group.members.size} members, the most a group may have (--max-group-members)`,
        { group: groupName, members: group.members.size, maxGroupMembers },
      )
    }
    this.#groups.set(groupName, group)
    const now = Date.now()
    const member: Member = {
      memberId: randomUUID(),
      topics,
      sessionTimeoutMs,
      autoCommit: req.autoCommit ?? false,
      assignments: [],
      // Only from a member of the coordinator before this one (it comes back within its session);
      // a member that expired here gets what the assignor gives it, like any newcomer.
      claimed:
        now - group.createdAt <= sessionTimeoutMs
          ? (req.owned ?? []).map((tp) => ({ topic: tp.topic, partition: tp.partition }))
          : [],
      knownGeneration: -1,
      joinedAt: now,
      lastSeenAt: now,
      inflight: 0,
      cursor: 0,
      sessionTimer: undefined,
    }
    group.members.set(member.memberId, member)
    if (member.claimed.length > 0) this.#awaitReturns(group, group.createdAt + sessionTimeoutMs)
    this.#rebalance(group)
    member.knownGeneration = group.generation
    this.#touch(group, member)
    return { memberId: member.memberId, generation: group.generation, assignments: member.assignments }
  }

  /** `rebalancing` is true when the group moved to a generation this member had not been told. */
  heartbeat(
    groupName: string,
    memberId: string,
    generation?: number,
  ): MembershipAnswer & { rebalancing: boolean } {
    this.#checkReady()
    const { group, member } = this.#member(groupName, memberId)
    this.#touch(group, member)
    const rebalancing = (generation ?? member.knownGeneration) !== group.generation
    member.knownGeneration = group.generation
    return { generation: group.generation, assignments: member.assignments, rebalancing }
  }

  leave(groupName: string, memberId: string): void {
    this.#checkReady()
    const { group, member } = this.#member(groupName, memberId)
    this.#remove(group, member)
  }

  #member(groupName: string, memberId: string): { group: Group; member: Member } {
    const group = this.#groups.get(groupName)
    if (!group && !this.#store.has(groupName)) {
      throw new GroupNotFoundError(`group "${groupName}" does not exist`, { group: groupName })
    }
    const member = group?.members.get(memberId)
    if (!group || !member) {
      throw new MemberNotFoundError(
        `group "${groupName}" has no member "${memberId}" (left, or its session expired)`,
        {
          group: groupName,
          memberId,
        },
      )
    }
    return { group, member }
  }

  /** Refreshes the member's session: it expires `sessionTimeoutMs` after its last request. */
  #touch(group: Group, member: Member): void {
    member.lastSeenAt = Date.now()
    group.expiring.delete(member)
    if (group.members.get(member.memberId) !== member || this.#closed) return
    if (member.sessionTimer) {
      member.sessionTimer.refresh()
      return
    }
    member.sessionTimer = setTimeout(() => this.#sessionExpired(group, member), member.sessionTimeoutMs)
    member.sessionTimer.unref()
  }

  /** The member's timer ran out: it leaves with the others of the next sweep. */
  #sessionExpired(group: Group, member: Member): void {
    if (group.members.get(member.memberId) !== member) return
    if (member.inflight > 0) {
      member.sessionTimer?.refresh()
      return
    }
    group.expiring.add(member)
    if (group.expirySweep === undefined && !this.#closed) {
      group.expirySweep = setTimeout(() => this.#sweepExpired(group), EXPIRY_SWEEP_DELAY_MS)
      group.expirySweep.unref()
    }
  }

  /** Removes every expired member still without a request in progress, then rebalances once. */
  #sweepExpired(group: Group): void {
    group.expirySweep = undefined
    let removed = 0
    for (const member of group.expiring) {
      if (group.members.get(member.memberId) !== member) continue
      if (member.inflight > 0) {
        member.sessionTimer?.refresh()
        continue
      }
      clearTimeout(member.sessionTimer)
      member.sessionTimer = undefined
      group.members.delete(member.memberId)
      removed++
    }
    group.expiring.clear()
    if (removed === 0 || this.#closed || this.#groups.get(group.name) !== group) return
    this.#rebalance(group)
    this.#forgetIfIdle(group)
  }

  #remove(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer)
    member.sessionTimer = undefined
    group.expiring.delete(member)
    if (!group.members.delete(member.memberId)) return
    this.#rebalance(group)
    this.#forgetIfIdle(group)
  }

  /** A group with no members and nothing stored has nothing left to show. */
  #forgetIfIdle(group: Group): void {
    if (group.members.size === 0 && !this.#store.has(group.name) && this.#groups.get(group.name) === group) {
      this.#groups.delete(group.name)
    }
  }

  /**
   * Members of the previous coordinator come back one by one, each within its session timeout of
   * the group appearing here: until the last of those could have, the partitions no member holds
   * wait for their owner, and then a rebalance gives out what nobody came back for.
   */
  #awaitReturns(group: Group, until: number): void {
    if (until <= group.returnUntil) return
    group.returnUntil = until
    clearTimeout(group.returnTimer)
    group.returnTimer = setTimeout(() => {
      group.returnTimer = undefined
      if (this.#closed || this.#groups.get(group.name) !== group || group.members.size === 0) return
      if (this.#hasUnowned(group)) this.#rebalance(group)
    }, until - Date.now())
    group.returnTimer.unref()
  }

  #hasUnowned(group: Group): boolean {
    for (const topic of group.topics) {
      if (!this.#broker.topics.has(topic)) continue
      for (let partition = 0; partition < this.#broker.topics.get(topic).partitions; partition++)
        if (!group.owners.has(tpKey({ topic, partition }))) return true
    }
    return false
  }

  /**
   * New generation, new assignment; partitions that change owner restart from the committed offset.
   * A member that joined again after the coordinator changed gets back what it says it held (its
   * `owned`), from a member holding it only because that one joined the new coordinator first, and
   * while members may still come back nobody gets a partition it did not hold, so members coming
   * back one by one end up where they were, and none reads another's partitions meanwhile.
   */
  #rebalance(group: Group): void {
    const members = [...group.members.values()]
    group.topics = new Set(members.flatMap((m) => m.topics))
    const counts = new Map<string, number>()
    for (const topic of group.topics) {
      if (this.#broker.topics.has(topic)) counts.set(topic, this.#broker.topics.get(topic).partitions)
    }
    const claimant = new Map<string, string>()
    for (const m of members)
      for (const tp of m.claimed) if (!claimant.has(tpKey(tp))) claimant.set(tpKey(tp), m.memberId)
    const currentOf = (m: Member): TopicPartitionRef[] => [
      ...m.claimed,
      ...m.assignments.filter((tp) => (claimant.get(tpKey(tp)) ?? m.memberId) === m.memberId),
    ]
    const assignment = assignPartitions(
      members.map((m) => ({ memberId: m.memberId, topics: m.topics, current: currentOf(m) })),
      counts,
    )
    const returning = Date.now() < group.returnUntil
    const held = new Map(members.map((m) => [m.memberId, new Set(currentOf(m).map(tpKey))]))
    for (const m of members) m.claimed = []
    const owners = new Map<string, string>()
    for (const m of members) {
      const given = assignment.get(m.memberId) ?? []
      m.assignments = returning ? given.filter((tp) => held.get(m.memberId)?.has(tpKey(tp))) : given
      for (const tp of m.assignments) owners.set(tpKey(tp), m.memberId)
    }
    for (const key of [...group.positions.keys()]) {
      if (owners.get(key) !== group.owners.get(key)) group.positions.delete(key)
    }
    group.owners.clear()
    for (const [key, owner] of owners) group.owners.set(key, owner)
    group.generation++
    this.#broker.waiters.notify(group.waitKey)
  }

  /** A partition appeared (its topic was created) that a member's topics cover: assign it. */
  #onPartitionState(state: PartitionState): void {
    // Every commit moves the internal topic; no group reads it, so skip the scan.
    if (state.topic === OFFSETS_TOPIC) return
    for (const group of this.#groups.values()) {
      if (!group.topics.has(state.topic) || group.owners.has(tpKey(state))) continue
      if (this.#broker.topics.has(state.topic)) this.#rebalance(group)
    }
  }

  /** The topic was deleted: its offsets are tombstoned and its partitions leave every assignment. */
  async onTopicDeleted(topic: string): Promise<void> {
    if (topic === OFFSETS_TOPIC) return
    this.#remote?.forgetTopic(topic)
    for (const group of this.#groups.values()) {
      for (const map of [group.positions, group.deliveries]) {
        for (const key of [...map.keys()]) if (key.startsWith(`${topic}\u0000`)) map.delete(key)
      }
      if (group.topics.has(topic)) this.#rebalance(group)
    }
    await this.#store.dropTopic(topic)
    for (const group of [...this.#groups.values()]) this.#forgetIfIdle(group)
  }

  // ---- commits ------------------------------------------------------------------------------

  async commit(groupName: string, req: CommitRequest): Promise<void> {
    this.#checkReady()
    const group = this.#groups.get(groupName)
    if (req.generation !== undefined) {
      if (!group && !this.#store.has(groupName)) {
        throw new GroupNotFoundError(`group "${groupName}" does not exist`, { group: groupName })
      }
      const current = group?.generation ?? 0
      if (req.generation !== current) {
        throw new StaleGenerationError(
          `generation ${req.generation} is over; group "${groupName}" is at generation ${current}`,
          { group: groupName, generation: req.generation, currentGeneration: current },
        )
      }
    }
    if (req.memberId !== undefined) {
      const { group: g, member } = this.#member(groupName, req.memberId)
      this.#touch(g, member)
      this.#checkOwned(g, member, req.offsets)
    } else if (group && group.members.size > 0) {
      throw new GroupNotEmptyError(
        `group "${groupName}" has members: commit as one of them (memberId and generation), or wait until it is empty`,
        { group: groupName, members: group.members.size },
      )
    }
    await this.#checkOffsets(req.offsets)
    await this.#commitOffsets(groupName, req.offsets)
  }

  #checkOwned(group: Group, member: Member, offsets: readonly TopicPartitionOffset[]): void {
    for (const o of offsets) {
      if (group.owners.get(tpKey(o)) === member.memberId) continue
      throw new StaleGenerationError(
        `${o.topic}/${o.partition} is not assigned to member "${member.memberId}" in generation ${group.generation}`,
        { group: group.name, topic: o.topic, partition: o.partition, currentGeneration: group.generation },
      )
    }
  }

  /** Every offset names an existing partition and lies within [0, log end]. */
  async #checkOffsets(offsets: readonly TopicPartitionOffset[], verb = 'commit'): Promise<void> {
    for (const o of offsets) {
      const meta = this.#broker.topics.get(o.topic)
      if (o.partition >= meta.partitions) {
        throw new PartitionNotFoundError(`topic "${o.topic}" has no partition ${o.partition}`, {
          topic: o.topic,
          partition: o.partition,
          partitions: meta.partitions,
        })
      }
      const state = await this.#boundsForCheck(o)
      if (state && o.offset > state.logEndOffset) {
        throw new OffsetOutOfRangeError(
          `cannot ${verb} ${o.offset} on ${o.topic}/${o.partition}: the log ends at ${state.logEndOffset}`,
          {
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
            logStartOffset: state.logStartOffset,
            logEndOffset: state.logEndOffset,
          },
        )
      }
    }
  }

  /**
   * The bounds an offset is checked against. A partition read from its leader: the leader's bounds
   * as of the group's last read, asked again when the offset lies past them; when the leader cannot
   * answer now, none (the offset is taken: a position past the end is reset when read).
   */
  async #boundsForCheck(tp: TopicPartitionRef): Promise<PartitionBounds | undefined> {
    const remote = this.#remote
    if (!remote?.isRemote(tp)) return this.#broker.partitionState(tp.topic, tp.partition)
    return remote.known(tp) ?? (await remote.refresh(tp).catch(() => undefined))
  }

  /** Sync bounds for a description: a partition led elsewhere as last learned (at most ~5 s old). */
  #boundsForDescription(tp: TopicPartitionRef): PartitionBounds | undefined {
    const remote = this.#remote
    if (!remote?.isRemote(tp)) return this.#broker.partitionState(tp.topic, tp.partition)
    return remote.recent(tp, DESCRIPTION_BOUNDS_MAX_AGE_MS)
  }

  /** Writes durably, then moves live positions forward to the commit and forgets acknowledged deliveries. */
  async #commitOffsets(groupName: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    await this.#store.commit(groupName, offsets)
    const group = this.#groups.get(groupName)
    if (!group) return
    for (const o of offsets) {
      const key = tpKey(o)
      const position = group.positions.get(key)
      if (position !== undefined && position < o.offset && group.owners.has(key))
        group.positions.set(key, o.offset)
      group.deliveries.get(key)?.prune(o.offset)
    }
  }

  /**
   * Moves where `memberId` reads its own partitions next, backwards (those records are delivered
   * again, and count as redeliveries for `maxDeliveries`) or forwards (skipped, not committed).
   * Fenced like a commit: the current generation only, partitions the member owns only, offsets
   * within [0, log end]. Taken in turn with the group's reads, so a read in progress cannot move
   * the position past the seek afterwards; a long poll waiting for records wakes up.
   */
  async seek(
    groupName: string,
    memberId: string,
    req: { generation?: number | undefined; offsets: readonly TopicPartitionOffset[] },
  ): Promise<void> {
    this.#checkReady()
    const { group, member } = this.#member(groupName, memberId)
    this.#touch(group, member)
    if (req.generation !== undefined && req.generation !== group.generation) {
      throw new StaleGenerationError(
        `generation ${req.generation} is over; group "${groupName}" is at generation ${group.generation}`,
        { group: groupName, generation: req.generation, currentGeneration: group.generation },
      )
    }
    this.#checkOwned(group, member, req.offsets)
    await this.#checkOffsets(req.offsets, 'seek to')
    await group.serialize(async () => {
      for (const o of req.offsets) {
        if (group.owners.get(tpKey(o)) === memberId) group.positions.set(tpKey(o), o.offset)
      }
    })
    this.#broker.waiters.notify(group.waitKey)
  }

  // ---- group fetch --------------------------------------------------------------------------

  /** The member's next records as a complete MessagePack body `{generation, records}`. */
  async fetch(groupName: string, memberId: string, req: GroupFetchRequest): Promise<Buffer> {
    this.#checkReady()
    const { group, member } = this.#member(groupName, memberId)
    member.inflight++
    try {
      if (req.generation !== undefined && req.generation !== group.generation) {
        throw new StaleGenerationError(
          `generation ${req.generation} is over; group "${groupName}" is at generation ${group.generation}`,
          { group: groupName, generation: req.generation, currentGeneration: group.generation },
        )
      }
      // Before the commit, so a fetch refused for want of budget has written nothing.
      await req.budget?.reserve(this.#readLimit(req))
      if (req.commit !== undefined && req.commit.length > 0) {
        await this.commit(groupName, { memberId, offsets: req.commit })
      }
      return await this.#poll(group, member, req)
    } finally {
      member.inflight--
      this.#touch(group, member)
    }
  }

  #readLimit(req: GroupFetchRequest): number {
    return Math.min(req.maxBytes, this.#broker.config.maxFetchBytes)
  }

  async #poll(group: Group, member: Member, req: GroupFetchRequest): Promise<Buffer> {
    const deadline = Date.now() + Math.min(req.maxWaitMs, this.#broker.config.maxWaitMsLimit)
    const limits = { maxRecords: req.maxRecords, maxBytes: req.maxBytes }
    for (let woken = false; ; woken = true) {
      if (group.members.get(member.memberId) !== member) this.#member(group.name, member.memberId)
      // Woken with the budget spent elsewhere: answer "nothing yet" rather than a 429 after a commit.
      if (woken && req.budget && !req.budget.tryReserve(this.#readLimit(req))) {
        return encodeGroupFetch(group.generation, 0, [])
      }
      const result = await group.serialize(() => this.#reader.read(group, member, limits))
      const remaining = deadline - Date.now()
      if (result.count > 0 || remaining <= 0 || req.signal?.aborted || this.#closed) {
        if (member.autoCommit && result.delivered.length > 0)
          await this.#commitOffsets(group.name, result.delivered)
        member.knownGeneration = Math.max(member.knownGeneration, result.generation)
        return encodeGroupFetch(result.generation, result.count, result.bodies)
      }
      // Checked synchronously right before parking, so a record that landed meanwhile is not missed.
      if (this.#reader.hasData(group, member)) continue
      req.budget?.resize(0)
      await this.#park(group, member, remaining, req.signal)
    }
  }

  /**
   * Waits for a record on a local partition of the member (or a change of the group), and on those
   * read from their leaders for the leaders' long polls; whichever comes first ends the others.
   */
  async #park(
    group: Group,
    member: Member,
    remaining: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const keys = member.assignments.map((tp) => partitionKey(tp.topic, tp.partition))
    keys.push(group.waitKey)
    // Every partition here: only the local wait, on the request's own signal (no controller to
    // abort afterwards: an abort without a reason builds a DOMException, stack and all, per fetch).
    if (this.#reader.remoteAssignments(member).length === 0)
      return this.#broker.waiters.waitForChange(keys, remaining, signal)
    const stop = new AbortController()
    const forward = () => stop.abort()
    signal?.addEventListener('abort', forward, { once: true })
    try {
      await Promise.race([
        this.#broker.waiters.waitForChange(keys, remaining, stop.signal),
        this.#reader.awaitRemoteData(group, member, remaining, stop.signal),
      ])
    } finally {
      stop.abort()
      signal?.removeEventListener('abort', forward)
    }
  }

  // ---- offsets, description, admin ----------------------------------------------------------

  #groupExists(groupName: string): void {
    if (!this.#groups.has(groupName) && !this.#store.has(groupName)) {
      throw new GroupNotFoundError(`group "${groupName}" does not exist`, { group: groupName })
    }
  }

  /** Committed offsets and lag for every partition the group committed or its members read. */
  offsets(groupName: string): GroupOffsetDescription[] {
    this.#checkReady()
    this.#groupExists(groupName)
    const latest = this.#store.config(groupName).offsetReset === 'latest'
    const parts = new Map<string, TopicPartitionRef>()
    for (const o of this.#store.offsets(groupName))
      parts.set(tpKey(o), { topic: o.topic, partition: o.partition })
    // Each subscribed topic once: a describe or a metrics scrape costs partitions, not members × partitions.
    for (const topic of this.#groups.get(groupName)?.topics ?? []) {
      if (!this.#broker.topics.has(topic)) continue
      for (let p = 0; p < this.#broker.topics.get(topic).partitions; p++)
        parts.set(tpKey({ topic, partition: p }), { topic, partition: p })
    }
    const out: GroupOffsetDescription[] = []
    for (const tp of parts.values()) {
      if (!this.#broker.topics.has(tp.topic)) continue
      const state = this.#boundsForDescription(tp)
      const committed = this.#store.committed(groupName, tp.topic, tp.partition)
      // Led elsewhere and not read yet: its end is unknown here, so no lag is claimed.
      const end = state?.logEndOffset ?? committed ?? 0
      const from = committed ?? (latest || !state ? end : state.logStartOffset)
      out.push({
        ...tp,
        committed: committed ?? null,
        logEndOffset: end,
        lag: Math.max(0, end - from),
      })
    }
    return out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
  }

  describe(groupName: string): GroupDescription {
    const offsets = this.offsets(groupName)
    const lagOf = new Map(offsets.map((o) => [tpKey(o), o.lag]))
    const group = this.#groups.get(groupName)
    const now = Date.now()
    const members = [...(group?.members.values() ?? [])].map((m) => ({
      memberId: m.memberId,
      topics: m.topics,
      autoCommit: m.autoCommit,
      sessionTimeoutMs: m.sessionTimeoutMs,
      generation: m.knownGeneration,
      assignments: m.assignments,
      lag: m.assignments.reduce((sum, tp) => sum + (lagOf.get(tpKey(tp)) ?? 0), 0),
      lastSeenMsAgo: now - m.lastSeenAt,
    }))
    return {
      group: groupName,
      state: group?.state ?? 'empty',
      generation: group?.generation ?? 0,
      members,
      config: this.#store.config(groupName),
      lag: offsets.reduce((sum, o) => sum + o.lag, 0),
      offsets,
    }
  }

  /** Lag of every group partition, for the metrics scrape. */
  lagEntries(): Array<TopicPartitionRef & { group: string; lag: number }> {
    if (!this.ready) return []
    const names = new Set([...this.#groups.keys(), ...this.#store.groups()])
    return [...names].flatMap((group) =>
      this.offsets(group).map((o) => ({ group, topic: o.topic, partition: o.partition, lag: o.lag })),
    )
  }

  /**
   * Every topic the group reads here: its members' subscriptions and the topics it has offsets on
   * (authorization asks, since the group's poison handling moves their records).
   */
  groupTopics(groupName: string): readonly string[] {
    const topics = new Set(this.#groups.get(groupName)?.topics ?? [])
    if (this.ready) for (const o of this.#store.offsets(groupName)) topics.add(o.topic)
    return [...topics]
  }

  /** The topics a member subscribed to; empty when it is not a member here (authorization asks). */
  memberTopics(groupName: string, memberId: string): readonly string[] {
    return this.#groups.get(groupName)?.members.get(memberId)?.topics ?? []
  }

  list(): GroupDescription[] {
    this.#checkReady()
    const names = new Set([...this.#groups.keys(), ...this.#store.groups()])
    return [...names].sort().map((name) => this.describe(name))
  }

  /** Moves a member-less group's offsets on every partition of `topic` to earliest, latest or a time. */
  async resetOffsets(
    groupName: string,
    topic: string,
    to: 'earliest' | 'latest' | number,
  ): Promise<TopicPartitionOffset[]> {
    this.#checkReady()
    const group = this.#groups.get(groupName)
    if (group && group.members.size > 0) {
      throw new GroupNotEmptyError(
        `group "${groupName}" has ${group.members.size} member(s); offsets reset only when it has none`,
        {
          group: groupName,
          members: group.members.size,
        },
      )
    }
    const meta = this.#broker.topics.get(topic)
    const offsets: TopicPartitionOffset[] = []
    for (let p = 0; p < meta.partitions; p++) {
      offsets.push({ topic, partition: p, offset: await this.#listOffset({ topic, partition: p }, to) })
    }
    await this.#commitOffsets(groupName, offsets)
    for (const o of offsets) {
      group?.deliveries.delete(tpKey(o))
      await this.#store.saveDeliveries(groupName, o, [])
    }
    return offsets
  }

  /** Where `to` is on a partition: here when this broker leads it, else at its leader. */
  async #listOffset(tp: TopicPartitionRef, to: 'earliest' | 'latest' | number): Promise<number> {
    try {
      return await this.#broker.listOffset(tp.topic, tp.partition, to)
    } catch (err) {
      if (!(err instanceof NotLeaderError) || !this.#remote) throw err
      return this.#remote.listOffset(tp, to)
    }
  }

  async setConfig(groupName: string, config: GroupConfig): Promise<GroupConfig> {
    this.#checkReady()
    if (config.deadLetterTopic !== undefined) this.#broker.topics.get(config.deadLetterTopic)
    await this.#store.setConfig(groupName, config)
    return this.#store.config(groupName)
  }

  /** The partition of `__consumer_offsets` holding a group's records (in a cluster, its leader coordinates the group). */
  partitionOf(group: string): number {
    return this.#store.partitionOf(group)
  }

  /**
   * Cluster mode: this broker now leads `partition` of the offsets topic, so it coordinates that
   * partition's groups. Members it may remember from an earlier term are dropped (they join again)
   * and the committed offsets are reloaded from this broker's replica.
   */
  async takeOver(partition: number): Promise<void> {
    for (const group of [...this.#groups.values()]) {
      if (this.#store.partitionOf(group.name) !== partition) continue
      this.#stopTimers(group)
      this.#groups.delete(group.name)
      this.#broker.waiters.notify(group.waitKey)
    }
    await this.#store.loadPartition(partition)
  }

  #checkReady(): void {
    if (!this.ready)
      throw new NotReadyError('consumer groups are loading their committed offsets; retry shortly')
  }
}
