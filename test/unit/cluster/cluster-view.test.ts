/**
 * The watched copy of etcd: a snapshot then events; an event older than what a key shows (a
 * replay after a re-read) changes nothing; broker registration revisions are kept for the
 * controller's restarted-leader rule.
 */
import { describe, expect, test } from 'vitest'
import { ClusterView } from '../../../src/cluster/cluster-view.js'

const put = (key: string, value: unknown, modRevision: number, createRevision = modRevision) => ({
  type: 'put' as const,
  key,
  value: JSON.stringify(value),
  modRevision,
  createRevision,
})

describe('ClusterView', () => {
  test('snapshot, events, replays ignored', () => {
    const view = new ClusterView()
    view.load(
      [put('/strata/brokers/1', { id: 1, url: 'http://a' }, 5), put('/strata/controller', { id: 1 }, 6)],
      9,
    )
    expect(view.revision).toBe(9)
    expect(view.liveIds()).toEqual(new Set([1]))
    expect(view.registrations.get(1)).toBe(5)
    expect(view.controller).toBe(1)

    expect(view.apply(put('/strata/partitions/t/0', { leader: 1, leaderEpoch: 0, isr: [1] }, 10))).toBe(true)
    expect(view.apply(put('/strata/partitions/t/0', { leader: 2, leaderEpoch: 0, isr: [2] }, 8))).toBe(false)
    expect(view.partition('t', 0)).toEqual({
      value: { leader: 1, leaderEpoch: 0, isr: [1] },
      modRevision: 10,
    })

    expect(
      view.apply({ type: 'delete', key: '/strata/brokers/1', value: '', modRevision: 11, createRevision: 0 }),
    ).toBe(true)
    expect(view.liveIds()).toEqual(new Set())
    expect(view.registrations.has(1)).toBe(false)
    expect(view.urlOf(1)).toBeUndefined()
    view.apply(put('/strata/members/1', { id: 1, url: 'http://a' }, 12))
    expect(view.urlOf(1)).toBe('http://a')
  })
})
