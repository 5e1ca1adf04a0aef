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
 * member, then partitions move from the most loaded members to the least loaded ones, one at a time,
 * only as long as that narrows a gap of two or more. So a join takes only what the newcomer needs
 * and a leave moves only the leaver's partitions. Ties break on member id and partition order, so
 * the same input always gives the same output.
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

function compareTp(a: TopicPartitionRef, b: TopicPartitionRef): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1
  return a.partition - b.partition
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
  const owned = new Map<string, Set<string>>()
  const subscribers = new Map<string, string[]>()
  for (const m of sorted) {
    owned.set(m.memberId, new Set())
    for (const topic of new Set(m.topics)) {
      const list = subscribers.get(topic)
      if (list) list.push(m.memberId)
      else subscribers.set(topic, [m.memberId])
    }
  }
  // Partitions of one topic share its subscriber list: the cost is partitions + subscriptions.
  const eligible = new Map<string, string[]>()
  const byKey = new Map<string, TopicPartitionRef>()
  for (const [topic, ids] of [...subscribers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const count = partitionCounts.get(topic) ?? 0
    for (let p = 0; p < count; p++) {
      const tp = { topic, partition: p }
      const key = tpKey(tp)
      byKey.set(key, tp)
      eligible.set(key, ids)
    }
  }
  const owner = new Map<string, string>()
  keepCurrent(sorted, eligible, owned, owner)
  // Inserted topic by topic in name order, partitions ascending: already sorted.
  const allKeys = [...byKey.keys()]
  placeUnowned(allKeys, eligible, owned, owner)
  evenOut(allKeys, eligible, owned, owner)
  const out: Assignment = new Map()
  for (const m of sorted) {
    const list = [...(owned.get(m.memberId) ?? [])].map((k) => byKey.get(k)!).sort(compareTp)
    out.set(m.memberId, list)
  }
  return out
}

/** Step 1: every member keeps what it held and may still hold (first claimant wins a conflict). */
function keepCurrent(
  members: readonly AssignorMember[],
  eligible: Map<string, string[]>,
  owned: Map<string, Set<string>>,
  owner: Map<string, string>,
): void {
  for (const m of members) {
    for (const tp of m.current) {
      const key = tpKey(tp)
      if (owner.has(key) || !eligible.has(key) || !m.topics.includes(tp.topic)) continue
      owner.set(key, m.memberId)
      owned.get(m.memberId)?.add(key)
    }
  }
}

/** Step 2: each partition nobody holds goes to its least loaded eligible member. */
function placeUnowned(
  keys: readonly string[],
  eligible: Map<string, string[]>,
  owned: Map<string, Set<string>>,
  owner: Map<string, string>,
): void {
  for (const key of keys) {
    if (owner.has(key)) continue
    const target = leastLoaded(eligible.get(key) ?? [], owned)
    if (target === undefined) continue
    owner.set(key, target)
    owned.get(target)?.add(key)
  }
}

function leastLoaded(candidates: readonly string[], owned: Map<string, Set<string>>): string | undefined {
  let best: string | undefined
  let bestCount = Number.POSITIVE_INFINITY
  for (const id of candidates) {
    const count = owned.get(id)?.size ?? 0
    if (count < bestCount) {
      best = id
      bestCount = count
    }
  }
  return best
}

/**
 * Step 3: while some partition's owner holds at least two more than an eligible member, move it
 * there, one partition at a time from the most loaded member. Each move lowers the sum of squared
 * loads, so this ends. A member gives its highest partitions first (those it held when this step
 * began; what it receives is never passed on), which keeps the low ones where they were. A member
 * that can give nothing is set aside until some move changes the loads.
 */
function evenOut(
  keys: readonly string[],
  eligible: Map<string, string[]>,
  owned: Map<string, Set<string>>,
  owner: Map<string, string>,
): void {
  const rank = new Map(keys.map((key, i) => [key, i]))
  const load = (id: string) => owned.get(id)?.size ?? 0
  const givable = new Map<string, string[]>()
  for (const [id, set] of owned)
    givable.set(
      id,
      [...set].sort((a, b) => (rank.get(b) ?? 0) - (rank.get(a) ?? 0)),
    )
  const stuck = new Set<string>()
  for (;;) {
    let from: string | undefined
    for (const id of owned.keys()) {
      if (!stuck.has(id) && (from === undefined || load(id) > load(from))) from = id
    }
    if (from === undefined) return
    const list = givable.get(from) ?? []
    const index = list.findIndex((key) => {
      const target = leastLoaded(eligible.get(key) ?? [], owned)
      return target !== undefined && load(target) + 1 < load(from as string)
    })
    const key = list[index]
    if (key === undefined) {
      stuck.add(from)
      continue
    }
    const target = leastLoaded(eligible.get(key) ?? [], owned) as string
    list.splice(index, 1)
    owned.get(from)?.delete(key)
    owned.get(target)?.add(key)
    owner.set(key, target)
    stuck.clear()
  }
}
