/**
 * The assignor's contract: every subscribed partition has exactly one owner, subscribed to its
 * topic; loads differ by at most one where members could trade; a member keeps what it held where
 * it can (a join takes only what the newcomer needs, a leave moves only the leaver's partitions);
 * the same input gives the same output.
 */
import { describe, expect, it } from 'vitest'
import {
  type AssignorMember,
  assignPartitions,
  type TopicPartitionRef,
  tpKey,
} from '../../../../src/broker/groups/assignors.js'

const tps = (topic: string, n: number): TopicPartitionRef[] =>
  Array.from({ length: n }, (_, p) => ({ topic, partition: p }))
const member = (memberId: string, topics: string[], current: TopicPartitionRef[] = []): AssignorMember => ({
  memberId,
  topics,
  current,
})

function owners(assignment: Map<string, TopicPartitionRef[]>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [m, list] of assignment) {
    for (const tp of list) {
      expect(out.has(tpKey(tp)), `${tpKey(tp)} assigned twice`).toBe(false)
      out.set(tpKey(tp), m)
    }
  }
  return out
}

/** A linear congruential generator: the same seed gives the same sequence in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0
    return state / 2 ** 32
  }
}

const sizes = (assignment: Map<string, TopicPartitionRef[]>) => [...assignment.values()].map((l) => l.length)

describe('assignPartitions', () => {
  it('splits one topic evenly across members, every partition once', () => {
    const a = assignPartitions(
      [member('a', ['t']), member('b', ['t']), member('c', ['t'])],
      new Map([['t', 8]]),
    )
    expect(owners(a).size).toBe(8)
    expect(sizes(a).sort()).toEqual([2, 3, 3])
  })

  it('gives nothing to members beyond the partition count', () => {
    const a = assignPartitions(
      [member('a', ['t']), member('b', ['t']), member('c', ['t'])],
      new Map([['t', 2]]),
    )
    expect(owners(a).size).toBe(2)
    expect(sizes(a).sort()).toEqual([0, 1, 1])
  })

  it('is deterministic whatever the member order', () => {
    const counts = new Map([
      ['t', 5],
      ['u', 3],
    ])
    const one = assignPartitions([member('a', ['t', 'u']), member('b', ['t']), member('c', ['u'])], counts)
    const two = assignPartitions([member('c', ['u']), member('a', ['t', 'u']), member('b', ['t'])], counts)
    expect([...one.entries()].sort()).toEqual([...two.entries()].sort())
  })

  it('keeps partitions in place on a join and moves only what the newcomer needs', () => {
    const counts = new Map([['t', 6]])
    const first = assignPartitions([member('a', ['t']), member('b', ['t'])], counts)
    expect(sizes(first)).toEqual([3, 3])
    const before = owners(first)
    const second = assignPartitions(
      [member('a', ['t'], first.get('a')), member('b', ['t'], first.get('b')), member('c', ['t'])],
      counts,
    )
    const after = owners(second)
    expect(sizes(second)).toEqual([2, 2, 2])
    let moved = 0
    for (const [key, owner] of after) if (before.get(key) !== owner) moved++
    expect(moved).toBe(2)
    for (const tp of second.get('c') ?? []) expect(['a', 'b']).toContain(before.get(tpKey(tp)))
  })

  it('moves only the leaver’s partitions on a leave', () => {
    const counts = new Map([['t', 9]])
    const first = assignPartitions([member('a', ['t']), member('b', ['t']), member('c', ['t'])], counts)
    const second = assignPartitions(
      [member('a', ['t'], first.get('a')), member('c', ['t'], first.get('c'))],
      counts,
    )
    for (const tp of first.get('a') ?? []) expect(owners(second).get(tpKey(tp))).toBe('a')
    for (const tp of first.get('c') ?? []) expect(owners(second).get(tpKey(tp))).toBe('c')
    expect(owners(second).size).toBe(9)
    expect(sizes(second).sort()).toEqual([4, 5])
  })

  it('only assigns a topic to members subscribed to it, and balances where members can trade', () => {
    const counts = new Map([
      ['t', 4],
      ['u', 4],
    ])
    const a = assignPartitions([member('a', ['t']), member('b', ['t', 'u']), member('c', ['u'])], counts)
    const own = owners(a)
    expect(own.size).toBe(8)
    for (const tp of a.get('a') ?? []) expect(tp.topic).toBe('t')
    for (const tp of a.get('c') ?? []) expect(tp.topic).toBe('u')
    // 8 partitions over 3 members, and every member can reach enough of them: 3/3/2 in some order.
    expect(sizes(a).sort()).toEqual([2, 3, 3])
  })

  it('drops partitions that no longer exist or that a member no longer subscribes to', () => {
    const a = assignPartitions(
      [member('a', ['t'], [...tps('t', 4), { topic: 'gone', partition: 0 }]), member('b', ['t'])],
      new Map([['t', 2]]),
    )
    expect(owners(a).size).toBe(2)
    expect(sizes(a)).toEqual([1, 1])
  })

  it('resolves two members claiming the same partition (first in id order keeps it)', () => {
    const a = assignPartitions(
      [member('b', ['t'], tps('t', 2)), member('a', ['t'], tps('t', 2))],
      new Map([['t', 2]]),
    )
    expect(owners(a).size).toBe(2)
    expect(sizes(a)).toEqual([1, 1])
    expect(a.get('a')).toEqual([{ topic: 't', partition: 0 }])
  })

  it('stays balanced and sticky through a random sequence of joins and leaves (seeded)', () => {
    const seed = 20_240_601
    const random = seededRandom(seed)
    const counts = new Map([['t', 24]])
    let current = new Map<string, TopicPartitionRef[]>()
    let nextId = 0
    for (let step = 0; step < 200; step++) {
      const ids = [...current.keys()]
      const leave = ids.length > 1 && random() < 0.4
      const leaver = leave ? ids[Math.floor(random() * ids.length)] : undefined
      const members = ids.filter((id) => id !== leaver).map((id) => member(id, ['t'], current.get(id)))
      if (!leave) members.push(member(`m${String(nextId++).padStart(4, '0')}`, ['t']))
      const next = assignPartitions(members, counts)
      const own = owners(next)
      expect(own.size, `seed ${seed} step ${step}`).toBe(24)
      const s = sizes(next)
      expect(Math.max(...s) - Math.min(...s), `seed ${seed} step ${step}`).toBeLessThanOrEqual(1)
      // Sticky: a surviving member loses a partition only if it held more than the new ceiling.
      const ceiling = Math.ceil(24 / members.length)
      for (const m of members) {
        const kept = (next.get(m.memberId) ?? []).filter((tp) =>
          m.current.some((c) => tpKey(c) === tpKey(tp)),
        ).length
        expect(kept, `seed ${seed} step ${step}`).toBe(
          Math.min(m.current.length, ceiling, (next.get(m.memberId) ?? []).length),
        )
      }
      current = next
    }
  })
  it('assigns a group of 10,000 members and keeps survivors in place when half of them go at once', () => {
    const counts = new Map([['t', 64]])
    const ids = Array.from({ length: 10_000 }, (_, i) => `m${String(i).padStart(5, '0')}`)
    const first = assignPartitions(
      ids.map((id) => member(id, ['t'])),
      counts,
    )
    expect(owners(first).size).toBe(64)
    expect(Math.max(...sizes(first))).toBe(1)
    // Every odd member expires in the same sweep: one rebalance for all of them.
    const survivors = ids.filter((_, i) => i % 2 === 0)
    const second = assignPartitions(
      survivors.map((id) => member(id, ['t'], first.get(id))),
      counts,
    )
    const after = owners(second)
    expect(after.size).toBe(64)
    expect(Math.max(...sizes(second))).toBe(1)
    for (const id of survivors) for (const tp of first.get(id) ?? []) expect(after.get(tpKey(tp))).toBe(id)
  })

  it('leaves no partition with an owner two ahead of a member that could take it (mixed subscriptions, seeded)', () => {
    const seed = 7_301
    const random = seededRandom(seed)
    const topics = ['a', 'b', 'c', 'd']
    for (let round = 0; round < 50; round++) {
      const counts = new Map(topics.map((t) => [t, Math.floor(random() * 12)]))
      const members = Array.from({ length: 1 + Math.floor(random() * 9) }, (_, i) =>
        member(
          `m${i}`,
          topics.filter(() => random() < 0.5),
          tps(topics[Math.floor(random() * topics.length)] as string, Math.floor(random() * 4)),
        ),
      )
      const result = assignPartitions(members, counts)
      const own = owners(result)
      const load = new Map([...result].map(([id, list]) => [id, list.length]))
      for (const topic of topics) {
        const subscribed = members.filter((m) => m.topics.includes(topic))
        const expected = subscribed.length > 0 ? (counts.get(topic) ?? 0) : 0
        expect(
          [...own.keys()].filter((k) => k.startsWith(`${topic}\u0000`)).length,
          `seed ${seed} round ${round}`,
        ).toBe(expected)
      }
      for (const [key, holder] of own) {
        const topic = key.split('\u0000')[0] as string
        expect(members.find((m) => m.memberId === holder)?.topics).toContain(topic)
        for (const m of members.filter((x) => x.topics.includes(topic))) {
          expect(load.get(holder) ?? 0, `seed ${seed} round ${round} ${key}`).toBeLessThan(
            (load.get(m.memberId) ?? 0) + 2,
          )
        }
      }
    }
  })
})
