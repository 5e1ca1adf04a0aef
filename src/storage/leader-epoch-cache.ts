/**
 * The leader epoch cache of one partition: the offset at which each leader epoch began (Kafka's
 * LeaderEpochFileCache), so a follower can find where its log and a new leader's log part ways
 * (Kafka's OffsetsForLeaderEpoch, KIP-101 and KIP-279).
 *
 * On disk: `leader-epoch-checkpoint` in the partition directory, text in Kafka's layout:
 *
 *     0                      version
 *     2                      number of entries
 *     0 0                    <leaderEpoch> <startOffset>, epochs strictly increasing
 *     3 1740                 start offsets never decreasing
 *
 * Written to a temp file, fdatasync'ed, renamed over, and the directory fsynced.
 *
 * Invariants: epochs strictly increase and start offsets never decrease; no entry starts past the
 * log end offset. An entry is made durable BEFORE the first batch of its epoch is written.
 * Thread: the partition's owner thread (a partition worker or the main thread); synchronous I/O.
 * Crash: because an entry is written before its batches, a crash can leave an entry whose first
 * batch was lost (harmless: it starts at the log end, or is dropped at load when it starts past it),
 * never a batch whose epoch is missing. A missing or unreadable file is rebuilt from batch headers.
 */
import fs from 'node:fs'
import path from 'node:path'

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint'
/** The epoch of "no epoch": an empty log, or a request for an epoch older than all we have. */
export const UNDEFINED_EPOCH = -1
const CHECKPOINT_VERSION = 0

export interface EpochEntry {
  epoch: number
  startOffset: number
}

/** Kafka's OffsetsForLeaderEpoch answer: the largest epoch ≤ the one asked for, and where it ended. */
export interface EpochEndOffset {
  epoch: number
  endOffset: number
}

/**
 * Where `epoch` ends in a log described by `entries`: the start of the next newer epoch, or the log
 * end offset when it is the newest. An epoch we never had answers for the largest one below it; an
 * epoch older than all of ours answers UNDEFINED_EPOCH (the asker then drops what it cannot match).
 */
export function endOffsetForEpoch(
  entries: readonly EpochEntry[],
  epoch: number,
  logEndOffset: number,
): EpochEndOffset {
  let found = -1
  for (let i = 0; i < entries.length; i++) if ((entries[i] as EpochEntry).epoch <= epoch) found = i
  if (found === -1) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH }
  const next = entries[found + 1]
  return {
    epoch: (entries[found] as EpochEntry).epoch,
    endOffset: next === undefined ? logEndOffset : next.startOffset,
  }
}

/** What a follower does with a leader's OffsetsForLeaderEpoch answer. */
export type DivergenceStep = { kind: 'truncate'; offset: number } | { kind: 'ask'; epoch: number }

/**
 * KIP-279's loop, one step: given the leader's answer for an epoch we asked about, either the offset
 * to truncate to (the lower of both sides' end offsets for the epoch both have), or an older epoch
 * of ours to ask about because the leader's epoch is one we never had (then our batches after our
 * last epoch below it may differ from the leader's, and only the leader knows where it moved on).
 */
export function divergenceStep(
  local: readonly EpochEntry[],
  localLogEndOffset: number,
  leader: EpochEndOffset,
): DivergenceStep {
  if (leader.epoch === UNDEFINED_EPOCH) return { kind: 'truncate', offset: 0 }
  const mine = endOffsetForEpoch(local, leader.epoch, localLogEndOffset)
  if (mine.epoch === leader.epoch) {
    return { kind: 'truncate', offset: Math.min(leader.endOffset, mine.endOffset, localLogEndOffset) }
  }
  if (mine.epoch === UNDEFINED_EPOCH) return { kind: 'truncate', offset: 0 }
  return { kind: 'ask', epoch: mine.epoch }
}

export function parseEpochCheckpoint(text: string): EpochEntry[] | undefined {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  if (lines[0] !== String(CHECKPOINT_VERSION)) return undefined
  const count = Number(lines[1])
  if (!Number.isSafeInteger(count) || count < 0 || lines.length !== count + 2) return undefined
  const entries: EpochEntry[] = []
  for (const line of lines.slice(2)) {
    const m = /^(\d{1,10}) (\d{1,16})$/.exec(line)
    if (m === null) return undefined
    const entry = { epoch: Number(m[1]), startOffset: Number(m[2]) }
    const last = entries.at(-1)
    if (last && (entry.epoch <= last.epoch || entry.startOffset < last.startOffset)) return undefined
    entries.push(entry)
  }
  return entries
}

export function formatEpochCheckpoint(entries: readonly EpochEntry[]): string {
  const lines = [String(CHECKPOINT_VERSION), String(entries.length)]
  for (const e of entries) lines.push(`${e.epoch} ${e.startOffset}`)
  return `${lines.join('\n')}\n`
}

export class LeaderEpochCache {
  readonly #file: string
  #entries: EpochEntry[]

  private constructor(file: string, entries: EpochEntry[]) {
    this.#file = file
    this.#entries = entries
  }

  /**
   * Loads the checkpoint of the partition in `dir`, or rebuilds it from `batchEpochs` (the leader
   * epoch and base offset of every batch, oldest first) when it is missing or unreadable.
   */
  static open(
    dir: string,
    logEndOffset: number,
    batchEpochs: () => Iterable<{ leaderEpoch: number; baseOffset: number }>,
  ): LeaderEpochCache {
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
    let entries: EpochEntry[] | undefined
    try {
      entries = parseEpochCheckpoint(fs.readFileSync(file, 'utf8'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const rebuild = entries === undefined
    if (entries === undefined) {
      entries = []
      for (const batch of batchEpochs()) {
        const last = entries.at(-1)
        if (last === undefined || batch.leaderEpoch > last.epoch)
          entries.push({ epoch: batch.leaderEpoch, startOffset: batch.baseOffset })
      }
    }
    const cache = new LeaderEpochCache(file, entries)
    const dropped = cache.#dropFrom(logEndOffset + 1)
    if (rebuild || dropped) cache.#write()
    return cache
  }

  get entries(): readonly EpochEntry[] {
    return this.#entries
  }

  get latestEpoch(): number {
    return this.#entries.at(-1)?.epoch ?? UNDEFINED_EPOCH
  }

  /** Records that `epoch` starts at `startOffset`; a no-op unless it is newer than every known epoch. */
  assign(epoch: number, startOffset: number): void {
    const last = this.#entries.at(-1)
    if (last !== undefined && (epoch <= last.epoch || startOffset < last.startOffset)) return
    this.#entries.push({ epoch, startOffset })
    this.#write()
  }

  /** After the log was truncated to `logEndOffset`: epochs that started at or past it are gone. */
  truncateFromEnd(logEndOffset: number): void {
    if (this.#dropFrom(logEndOffset)) this.#write()
  }

  /** The log was emptied and restarts past every epoch known here (a follower behind the log start). */
  clear(): void {
    this.#entries = []
    this.#write()
  }

  endOffsetFor(epoch: number, logEndOffset: number): EpochEndOffset {
    return endOffsetForEpoch(this.#entries, epoch, logEndOffset)
  }

  #dropFrom(offset: number): boolean {
    const kept = this.#entries.filter((e) => e.startOffset < offset)
    if (kept.length === this.#entries.length) return false
    this.#entries = kept
    return true
  }

  #write(): void {
    const tmp = `${this.#file}.tmp`
    const fd = fs.openSync(tmp, 'w')
    try {
      fs.writeSync(fd, formatEpochCheckpoint(this.#entries))
      fs.fdatasyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, this.#file)
    const dirFd = fs.openSync(path.dirname(this.#file), 'r')
    try {
      fs.fsyncSync(dirFd)
    } finally {
      fs.closeSync(dirFd)
    }
  }
}
