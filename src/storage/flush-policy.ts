/**
 * Flush decisions for acks that do not wait for an fsync (Kafka's flush.messages and flush.ms).
 * Pure: the caller owns the timer and calls PartitionLog.flush() when `shouldFlush` says so.
 * acks="all" does not use this: it awaits flush() per request and group commit merges them.
 *
 * On disk: nothing here.
 * Invariants: a policy value of −1 (or Infinity) disables that trigger; with both disabled the
 * log is fsynced only by acks="all" requests, roll-time flushes and close.
 * Thread: any (pure).
 * Crash: whatever was appended after the last flush may be lost or torn; recovery truncates it.
 */

export interface FlushPolicy {
  /** Flush once this many records are unflushed; −1 disables. */
  flushMessages: number
  /** Flush once the oldest unflushed append is this old; −1 disables. */
  flushMs: number
}

export interface FlushState {
  /** logEndOffset − durableOffset. */
  unflushedMessages: number
  /** When the oldest unflushed append happened, or undefined if none is unflushed. */
  firstUnflushedMs: number | undefined
}

export function shouldFlush(state: FlushState, policy: FlushPolicy, nowMs: number): boolean {
  if (state.unflushedMessages <= 0 || state.firstUnflushedMs === undefined) return false
  if (policy.flushMessages >= 0 && state.unflushedMessages >= policy.flushMessages) return true
  return policy.flushMs >= 0 && nowMs - state.firstUnflushedMs >= policy.flushMs
}

/** Milliseconds until the time trigger fires, or undefined when nothing will fire it. */
export function flushDelayMs(state: FlushState, policy: FlushPolicy, nowMs: number): number | undefined {
  if (state.unflushedMessages <= 0 || state.firstUnflushedMs === undefined || policy.flushMs < 0)
    return undefined
  return Math.max(0, state.firstUnflushedMs + policy.flushMs - nowMs)
}
