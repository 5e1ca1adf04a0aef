/**
 * Partition budget (issue 11 item 5): the soft open-files limit of /proc/self/limits, a quarter of
 * it (at least 128) kept for connections and reads, 3 fds per partition; --max-partitions wins.
 */
import { describe, expect, it } from 'vitest'
import { partitionBudget, softOpenFilesLimit } from '../../../src/broker/partition-budget.js'

const limits = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             63704                63704                processes ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n')

describe('item 5: partition budget', () => {
  it('reads the soft limit, not the hard one', () => {
    expect(softOpenFilesLimit(limits('1024', '524288'))).toBe(1024)
    expect(softOpenFilesLimit(limits('unlimited', 'unlimited'))).toBeUndefined()
    expect(softOpenFilesLimit('')).toBeUndefined()
  })

  it('keeps a quarter (at least 128) of the fds and gives 3 to each partition', () => {
    expect(partitionBudget(0, limits('20000', '20000')).limit).toBe(5000)
    expect(partitionBudget(0, limits('1024', '524288')).limit).toBe(256)
    expect(partitionBudget(0, limits('256', '256')).limit).toBe(42)
    expect(partitionBudget(0, limits('20000', '20000')).source).toContain('ulimit -n 20000')
  })

  it('--max-partitions sets it explicitly; without /proc nothing bounds it', () => {
    expect(partitionBudget(300, limits('1024', '1024'))).toEqual({
      limit: 300,
      source: 'set by --max-partitions',
    })
    expect(partitionBudget(0, '').limit).toBe(Number.POSITIVE_INFINITY)
  })
})
