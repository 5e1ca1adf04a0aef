/**
 * How many partitions this broker can hold open: the broker-wide partition budget.
 *
 * Each open partition holds 3 file descriptors for as long as it is open: the .log, .index and
 * .timeindex of its active segment (measured: a broker with 200 partitions holds 600 more fds than
 * one with none, idle, after writes and after a restart). Past the process's open-files limit
 * every open fails with EMFILE: new partitions, segment rolls, reads of sealed segments, and the
 * sockets of clients. So a quarter of the limit (at least 128) is kept for connections, reads of
 * sealed segments (a few per partition at a time, closed least recently used)
 * and the runtime, and the rest is the budget: (limit − reserve) / 3 partitions.
 *
 * The limit is the soft RLIMIT_NOFILE read from /proc/self/limits (Node has no getrlimit). Where
 * there is no /proc the budget is unknown and only --max-partitions bounds it.
 */
import { readFileSync } from 'node:fs'

export const FDS_PER_PARTITION = 3
const MIN_FD_RESERVE = 128

export interface PartitionBudget {
  /** Most partitions this broker holds; Infinity when neither the option nor the fd limit bounds it. */
  limit: number
  /** Where the limit comes from, for the error message that refuses a topic. */
  source: string
}

/** The soft "Max open files" of /proc/<pid>/limits text; undefined when absent or unlimited. */
export function softOpenFilesLimit(limitsText: string): number | undefined {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'))
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined
  return Number(soft)
}

function readOwnLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8')
  } catch {
    return ''
  }
}

/** The budget from `--max-partitions` when set (> 0), else from the open-files limit. */
export function partitionBudget(maxPartitions: number, limitsText = readOwnLimits()): PartitionBudget {
  if (maxPartitions > 0) return { limit: maxPartitions, source: 'set by --max-partitions' }
  const openFiles = softOpenFilesLimit(limitsText)
  if (openFiles === undefined) return { limit: Number.POSITIVE_INFINITY, source: 'no open-files limit known' }
  const reserve = Math.max(MIN_FD_RESERVE, Math.floor(openFiles / 4))
  const limit = Math.max(0, Math.floor((openFiles - reserve) / FDS_PER_PARTITION))
  return {
    limit,
    source:
      `from the open-files limit (ulimit -n ${openFiles}, ${FDS_PER_PARTITION} per partition, ` +
      `${reserve} kept for connections); raise ulimit -n or set --max-partitions`,
  }
}
