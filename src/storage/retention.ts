/**
 * Retention decisions: which old segments to delete, by age and by total size (Kafka's
 * retention.ms and retention.bytes). Pure: no I/O; partition-log.ts deletes the files.
 *
 * On disk: nothing here; segments are deleted whole, oldest first.
 * Invariants: the active (last) segment is never chosen; only a prefix of the segment list is, so
 * the log start offset moves forward to the base offset of the first segment kept.
 * Thread: any (pure).
 * Crash: not applicable; a deletion interrupted by a crash is redone by the next retention pass.
 */

export interface RetentionSegment {
  baseOffset: number
  sizeInBytes: number
  /** The segment's largest batch maxTimestamp, −1 when it has none. */
  maxTimestamp: number
}

export interface RetentionPolicy {
  /** −1 keeps segments forever. */
  retentionMs: number
  /** −1 puts no bound on the total size. */
  retentionBytes: number
}

/**
 * How many segments, from the oldest, to delete. `segments` is oldest first and its last element
 * is the active segment, which is never counted.
 */
export function segmentsToDelete(
  segments: readonly RetentionSegment[],
  policy: RetentionPolicy,
  nowMs: number,
): number {
  const deletable = Math.max(0, segments.length - 1)
  return Math.min(deletable, Math.max(expiredCount(segments, policy, nowMs), oversizeCount(segments, policy)))
}

/** Leading segments whose newest batch is older than retentionMs. */
export function expiredCount(
  segments: readonly RetentionSegment[],
  policy: RetentionPolicy,
  nowMs: number,
): number {
  if (policy.retentionMs < 0) return 0
  let count = 0
  for (const segment of segments) {
    if (nowMs - segment.maxTimestamp <= policy.retentionMs) break
    count++
  }
  return count
}

/** Leading segments to drop so the total size is at most retentionBytes, whole segments only. */
export function oversizeCount(segments: readonly RetentionSegment[], policy: RetentionPolicy): number {
  if (policy.retentionBytes < 0) return 0
  let excess = -policy.retentionBytes
  for (const segment of segments) excess += segment.sizeInBytes
  let count = 0
  for (const segment of segments) {
    if (excess - segment.sizeInBytes < 0) break
    excess -= segment.sizeInBytes
    count++
  }
  return count
}
