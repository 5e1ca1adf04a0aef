/**
 * Flush policy contract (Kafka's flush.messages / flush.ms): flush when enough records are
 * unflushed or the oldest unflushed append is old enough; −1 disables a trigger; nothing
 * unflushed never asks for a flush.
 */
import { describe, expect, test } from 'vitest'
import { flushDelayMs, shouldFlush } from '../../../src/storage/flush-policy.js'

describe('shouldFlush', () => {
  test('by message count', () => {
    const policy = { flushMessages: 100, flushMs: -1 }
    expect(shouldFlush({ unflushedMessages: 99, firstUnflushedMs: 0 }, policy, 1e9)).toBe(false)
    expect(shouldFlush({ unflushedMessages: 100, firstUnflushedMs: 0 }, policy, 0)).toBe(true)
  })

  test('by age of the oldest unflushed append', () => {
    const policy = { flushMessages: -1, flushMs: 50 }
    expect(shouldFlush({ unflushedMessages: 1, firstUnflushedMs: 1000 }, policy, 1049)).toBe(false)
    expect(shouldFlush({ unflushedMessages: 1, firstUnflushedMs: 1000 }, policy, 1050)).toBe(true)
  })

  test('nothing unflushed, or both triggers off, never flushes', () => {
    expect(
      shouldFlush({ unflushedMessages: 0, firstUnflushedMs: 0 }, { flushMessages: 0, flushMs: 0 }, 1e9),
    ).toBe(false)
    expect(
      shouldFlush({ unflushedMessages: 5, firstUnflushedMs: undefined }, { flushMessages: 1, flushMs: 0 }, 1),
    ).toBe(false)
    expect(
      shouldFlush({ unflushedMessages: 1e9, firstUnflushedMs: 0 }, { flushMessages: -1, flushMs: -1 }, 1e12),
    ).toBe(false)
  })
})

describe('flushDelayMs', () => {
  test('time left until the age trigger', () => {
    const policy = { flushMessages: -1, flushMs: 50 }
    expect(flushDelayMs({ unflushedMessages: 1, firstUnflushedMs: 1000 }, policy, 1010)).toBe(40)
    expect(flushDelayMs({ unflushedMessages: 1, firstUnflushedMs: 1000 }, policy, 2000)).toBe(0)
    expect(flushDelayMs({ unflushedMessages: 0, firstUnflushedMs: undefined }, policy, 2000)).toBeUndefined()
    expect(
      flushDelayMs({ unflushedMessages: 1, firstUnflushedMs: 0 }, { flushMessages: 1, flushMs: -1 }, 0),
    ).toBeUndefined()
  })
})
