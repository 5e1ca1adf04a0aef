/**
 * Which member of a group reads which partition: balanced and sticky. Pure, no I/O.
 *
 * Every partition of every subscribed topic goes to exactly one member subscribed to its topic.
 * The result is balanced in the sense that no single move could make it more even: there is no
 * partition whose owner has at least two more partitions than another member that could take it.
 * With identical subscriptions that means every member holds ⌊P/M⌋ or ⌈P/M⌉ partitions.
 *
 * Sticky: a member keeps every partition it held that is still valid (it is still subscribed to the
 * topic and the partition still exists), then unowned partitions go to the least loaded eligible
 * member, then partitions move from the most loaded holder of a topic to its least loaded
 * subscriber, one at a time, only as long as that narrows a gap of two or more. So a join takes only
 * what the newcomer needs and a leave moves only the leaver's partitions. Ties break on member id
 * and partition order, so the same input always gives the same output.
 *
 * Cost: O((M + P + S) log M) for M members, P partitions and S subscriptions (member × topic), so a
 * group of thousands of members rebalances in milliseconds. Each topic keeps two heaps of its
 * subscribers, lightest first and heaviest first; a load change pushes a fresh entry rather than
 * updating one in place, and stale entries are dropped when they reach the top.
 */

export interface TopicPartitionRef {
  topic: string
  partition: number
}

export interface AssignorMember {
  memberId: string
  topics: readonly string[]
  /** What the member holds now (the previous generation's assignment). */
  current: readonly TopicPartitionRef[]
}

/** memberId → its partitions, sorted by topic then partition. */
export type Assignment = Map<string, TopicPartitionRef[]>

export const tpKey = (tp: TopicPartitionRef): string => `${tp.topic}\u0000${tp.partition}`

/** A binary min-heap of numbers. */
class NumberHeap {
  readonly #items: number[] = []

  push(value: number): void {
    const items = this.#items
    let i = items.length
    items.push(value)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((items[parent] as number) <= value) break
      items[i] = items[parent] as number
      i = parent
    }
    items[i] = value
  }

  peek(): number | undefined {
    return this.#items[0]
  }

  pop(): void {
    const items = this.#items
    const last = items.pop()
    if (last === undefined || items.length === 0) return
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= items.length) break
      const right = left + 1
      const child = right < items.length && (items[right] as number) < (items[left] as number) ? right : left
      if ((items[child] as number) >= last) break
      items[i] = items[child] as number
      i = child
    }
    items[i] = last
  }
}

/**
 * A heap entry packs (load, member index) into one number: member indexes stay below 2^24 and
 * loads below 2^28 (both far past any group), so the product stays an exact integer below 2^53.
 * Lightest-first sorts by load then index; heaviest-first by descending load then index.
 */
const INDEX_RANGE = 2 ** 24

/** What one member holds of one topic: what it kept or was given in steps 1–2, then what step 3 moved to it. */
interface Holding {
  /** Ascending, so the highest partition is given away first and the low ones stay where they were. */
  kept: number[]
  received: number[]
}

/** One subscribed topic with at least one partition. */
interface TopicSlot {
  name: string
  /** Partition → member index, -1 while unowned. */
  owner: Int32Array
  subscribers: number[]
  lightest: NumberHeap
  heaviest: NumberHeap
  /** Member index → its holding of this topic. */
  holdings: Map<number, Holding>
  queued: boolean
}

/**
 * Assigns the partitions of `partitionCounts` (topic → number of partitions) to `members`.
 * Topics no member subscribes to are ignored; a subscribed topic missing from the map has no
 * partitions (it does not exist yet, or was deleted).
 */
export function assignPartitions(
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
): Assignment {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0))
  const state = new AssignmentState(sorted, partitionCounts)
  state.keepCurrent()
  state.placeUnowned()
  state.evenOut()
  return state.result()
}

class AssignmentState {
  readonly #members: readonly AssignorMember[]
  readonly #load: number[]
  /** Topic name → slot, in name order. */
  readonly #slots = new Map<string, TopicSlot>()
  /** Member index → the slots of the topics it subscribes to, in name order. */
  readonly #slotsOf: TopicSlot[][]

  constructor(sorted: readonly AssignorMember[], partitionCounts: ReadonlyMap<string, number>) {
    if (sorted.length >= INDEX_RANGE)
      throw new RangeError(`a group of ${sorted.length} members is past the assignor's range`)
    this.#members = sorted
    this.#load = sorted.map(() => 0)
    const subscribers = new Map<string, number[]>()
    sorted.forEach((m, i) => {
      for (const topic of new Set(m.topics)) {
        if ((partitionCounts.get(topic) ?? 0) <= 0) continue
        const list = subscribers.get(topic)
        if (list) list.push(i)
        else subscribers.set(topic, [i])
      }
    })
    this.#slotsOf = sorted.map(() => [])
    for (const [name, ids] of [...subscribers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const slot: TopicSlot = {
        name,
        owner: new Int32Array(partitionCounts.get(name) ?? 0).fill(-1),
        subscribers: ids,
        lightest: new NumberHeap(),
        heaviest: new NumberHeap(),
        holdings: new Map(),
        queued: false,
      }
      this.#slots.set(name, slot)
      for (const i of ids) this.#slotsOf[i]?.push(slot)
    }
  }

  /** Step 1: every member keeps what it held and may still hold (first claimant wins a conflict). */
  keepCurrent(): void {
    this.#members.forEach((m, i) => {
      for (const tp of m.current) {
        const slot = this.#slots.get(tp.topic)
        if (!slot || !Number.isInteger(tp.partition) || tp.partition < 0) continue
        if (tp.partition >= slot.owner.length || slot.owner[tp.partition] !== -1) continue
        if (!this.#slotsOf[i]?.includes(slot)) continue
        slot.owner[tp.partition] = i
        this.#holding(slot, i).kept.push(tp.partition)
        this.#load[i] = (this.#load[i] as number) + 1
      }
    })
    for (const slot of this.#slots.values()) {
      for (const holding of slot.holdings.values()) holding.kept.sort((a, b) => a - b)
      for (const i of slot.subscribers) this.#pushEntries(slot, i)
    }
  }

  /** Step 2: each partition nobody holds goes to its least loaded eligible member. */
  placeUnowned(): void {
    for (const slot of this.#slots.values()) {
      for (let p = 0; p < slot.owner.length; p++) {
        if (slot.owner[p] !== -1) continue
        const target = this.#lightest(slot)
        if (target === undefined) continue
        slot.owner[p] = target
        // Placed in ascending order, so `kept` stays sorted.
        this.#holding(slot, target).kept.push(p)
        this.#changeLoad(target, 1)
      }
    }
  }

  /**
   * Step 3: while some topic's heaviest holder has at least two more partitions than its lightest
   * subscriber, move one partition between them. Each move lowers the sum of squared loads, so this
   * ends. A load change can only open a gap in the topics of the member whose load changed, so
   * those topics are queued again; when the queue is empty no topic has a gap.
   */
  evenOut(): void {
    const queue = [...this.#slots.values()]
    for (const slot of queue) slot.queued = true
    for (let next = 0; next < queue.length; next++) {
      const slot = queue[next] as TopicSlot
      slot.queued = false
      for (;;) {
        const from = this.#heaviest(slot)
        const to = this.#lightest(slot)
        if (from === undefined || to === undefined) break
        if ((this.#load[from] as number) < (this.#load[to] as number) + 2) break
        this.#move(slot, from, to)
        for (const changed of [from, to]) {
          for (const other of this.#slotsOf[changed] ?? []) {
            if (other !== slot && !other.queued) {
              other.queued = true
              queue.push(other)
            }
          }
        }
      }
    }
  }

  result(): Assignment {
    const out: Assignment = new Map()
    this.#members.forEach((m, i) => {
      const list: TopicPartitionRef[] = []
      for (const slot of this.#slotsOf[i] ?? []) {
        const holding = slot.holdings.get(i)
        if (!holding) continue
        for (const partition of [...holding.kept, ...holding.received].sort((a, b) => a - b))
          list.push({ topic: slot.name, partition })
      }
      out.set(m.memberId, list)
    })
    return out
  }

  /** Gives `from`'s highest kept partition of the topic (a received one only when none is left). */
  #move(slot: TopicSlot, from: number, to: number): void {
    const holding = this.#holding(slot, from)
    const partition = (holding.kept.length > 0 ? holding.kept.pop() : holding.received.pop()) as number
    slot.owner[partition] = to
    this.#holding(slot, to).received.push(partition)
    this.#changeLoad(from, -1)
    this.#changeLoad(to, 1)
  }

  #holding(slot: TopicSlot, member: number): Holding {
    let holding = slot.holdings.get(member)
    if (!holding) {
      holding = { kept: [], received: [] }
      slot.holdings.set(member, holding)
    }
    return holding
  }

  #changeLoad(member: number, by: number): void {
    this.#load[member] = (this.#load[member] as number) + by
    for (const slot of this.#slotsOf[member] ?? []) this.#pushEntries(slot, member)
  }

  #pushEntries(slot: TopicSlot, member: number): void {
    const load = this.#load[member] as number
    slot.lightest.push(load * INDEX_RANGE + member)
    slot.heaviest.push(-load * INDEX_RANGE + member)
  }

  /** The subscriber with the fewest partitions (lowest index on a tie). */
  #lightest(slot: TopicSlot): number | undefined {
    for (let top = slot.lightest.peek(); top !== undefined; top = slot.lightest.peek()) {
      const member = top % INDEX_RANGE
      if ((top - member) / INDEX_RANGE === this.#load[member]) return member
      slot.lightest.pop()
    }
    return undefined
  }

  /** The member holding partitions of this topic with the most partitions overall (lowest index on a tie). */
  #heaviest(slot: TopicSlot): number | undefined {
    for (let top = slot.heaviest.peek(); top !== undefined; top = slot.heaviest.peek()) {
      const member = ((top % INDEX_RANGE) + INDEX_RANGE) % INDEX_RANGE
      const holding = slot.holdings.get(member)
      const holds = holding !== undefined && holding.kept.length + holding.received.length > 0
      if (holds && -(top - member) / INDEX_RANGE === this.#load[member]) return member
      slot.heaviest.pop()
    }
    return undefined
  }
}
