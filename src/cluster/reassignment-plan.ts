/**
 * A proposed reassignment that spreads replicas and preferred leaders evenly over a broker list
 * (`strata cluster reassign --generate`, Kafka's `--generate`), moving as few replicas as it can:
 * replicas on brokers outside the list move to the least loaded brokers, then replicas move one at
 * a time from the most loaded broker to the least loaded one until their counts differ by at most
 * one. Preferred leaders (first replicas) are spread the same way, from the current ones.
 * Pure: the caller shows the plan or sends it.
 */

export interface PartitionReplicas {
  topic: string
  partition: number
  replicas: number[]
}

/** The partitions whose replicas change, with their new lists (replication factors kept). */
export function balancedPlan(
  partitions: readonly PartitionReplicas[],
  brokers: readonly number[],
): PartitionReplicas[] {
  const ids = [...new Set(brokers)].sort((a, b) => a - b)
  const widest = Math.max(0, ...partitions.map((p) => p.replicas.length))
  if (widest > ids.length) {
    throw new RangeError(`a partition has ${widest} replicas; only ${ids.length} brokers were given`)
  }
  const load = new Map(ids.map((id) => [id, 0]))
  const bump = (id: number, by: number) => load.set(id, (load.get(id) ?? 0) + by)
  const leastLoaded = (exclude: readonly number[]) =>
    ids
      .filter((id) => !exclude.includes(id))
      .sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a - b)[0] as number
  const next = partitions.map((p) => [...p.replicas])
  for (const list of next) for (const id of list) if (load.has(id)) bump(id, 1)
  // Replicas on brokers outside the list must move.
  for (const list of next) {
    list.forEach((id, k) => {
      if (load.has(id)) return
      const to = leastLoaded(list)
      list[k] = to
      bump(to, 1)
    })
  }
  // Then one replica at a time from the most loaded broker to the least loaded one, until no two
  // brokers differ by more than one (each move lowers the spread, so this ends).
  for (;;) {
    const byLoad = [...ids].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a - b)
    const least = byLoad[0] as number
    const most = byLoad.at(-1) as number
    if ((load.get(most) ?? 0) - (load.get(least) ?? 0) <= 1) break
    const list = next.find((l) => l.includes(most) && !l.includes(least))
    if (!list) break
    list[list.indexOf(most)] = least
    bump(most, -1)
    bump(least, 1)
  }
  // Preferred leaders the same way: each partition keeps its first replica while it still holds
  // it, then leaderships move one at a time from the broker leading most to the one leading least.
  const leaders = next.map((list, i) => {
    const current = partitions[i]?.replicas[0] as number
    return list.includes(current) ? current : (list[0] as number)
  })
  const leads = new Map(ids.map((id) => [id, 0]))
  for (const id of leaders) leads.set(id, (leads.get(id) ?? 0) + 1)
  for (;;) {
    const byLeads = [...ids].sort((a, b) => (leads.get(a) ?? 0) - (leads.get(b) ?? 0) || a - b)
    const least = byLeads[0] as number
    const most = byLeads.at(-1) as number
    if ((leads.get(most) ?? 0) - (leads.get(least) ?? 0) <= 1) break
    const i = leaders.findIndex((id, k) => id === most && next[k]?.includes(least))
    if (i < 0) break
    leaders[i] = least
    leads.set(most, (leads.get(most) ?? 0) - 1)
    leads.set(least, (leads.get(least) ?? 0) + 1)
  }
  const out: PartitionReplicas[] = []
  partitions.forEach((p, i) => {
    const list = next[i] as number[]
    const leader = leaders[i] as number
    const replicas = [leader, ...list.filter((id) => id !== leader)]
    if (replicas.join() !== p.replicas.join()) out.push({ topic: p.topic, partition: p.partition, replicas })
  })
  return out
}
