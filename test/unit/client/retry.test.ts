/**
 * Retry policy contract: waits grow exponentially inside the jitter band and stop at the cap;
 * attempts and total time are bounded; only errors flagged `retriable` are retried, programming
 * errors never are; `Retry-After` stretches a wait; the caller's veto and delay hint are obeyed.
 */
import { describe, expect, test } from 'vitest'
import { BrokerUnreachableError } from '../../../src/client/client-errors.js'
import {
  backoffDelayMs,
  DEFAULT_RETRY,
  isRetriable,
  rememberRetryAfter,
  retryPolicy,
  withRetry,
} from '../../../src/client/retry.js'
import { InvalidRequestError, NotLeaderError, ThrottledError } from '../../../src/errors.js'

const fast = retryPolicy({ initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 5 })

describe('backoffDelayMs', () => {
  test('grows by the multiplier within the jitter band and stops at maxDelayMs', () => {
    const policy = retryPolicy({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 0.5 })
    expect(backoffDelayMs(0, policy, () => 0)).toBe(50)
    expect(backoffDelayMs(0, policy, () => 1)).toBe(150)
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(400)
    expect(backoffDelayMs(10, policy, () => 0.5)).toBe(1000)
    for (let i = 0; i < 100; i++) {
      const d = backoffDelayMs(3, policy)
      expect(d).toBeGreaterThanOrEqual(400)
      expect(d).toBeLessThanOrEqual(1200)
    }
  })

  test('no jitter gives the nominal wait', () => {
    expect(backoffDelayMs(1, retryPolicy({ jitter: 0 }))).toBe(DEFAULT_RETRY.initialDelayMs * 2)
  })
})

describe('isRetriable', () => {
  test('reads the flag and nothing else', () => {
    expect(isRetriable(new ThrottledError('x'))).toBe(true)
    expect(isRetriable(new NotLeaderError('x'))).toBe(true)
    expect(isRetriable(new InvalidRequestError('x'))).toBe(false)
    expect(isRetriable(new BrokerUnreachableError('http://x', 'down', false))).toBe(true)
    expect(isRetriable(new Error('timeout, please retry'))).toBe(false)
    expect(isRetriable({ retriable: true })).toBe(true)
    expect(isRetriable(undefined)).toBe(false)
  })

  test('programming errors are never retried, whatever they carry', () => {
    expect(isRetriable(Object.assign(new TypeError('x'), { retriable: true }))).toBe(false)
    expect(isRetriable(Object.assign(new RangeError('x'), { retriable: true }))).toBe(false)
  })
})

describe('withRetry', () => {
  test('retries retriable errors until success', async () => {
    let calls = 0
    const out = await withRetry(async () => {
      if (++calls < 3) throw new ThrottledError('busy')
      return 'ok'
    }, fast)
    expect(out).toBe('ok')
    expect(calls).toBe(3)
  })

  test('throws a non-retriable error at once, unchanged', async () => {
    let calls = 0
    const err = new InvalidRequestError('bad')
    await expect(
      withRetry(async () => {
        calls++
        throw err
      }, fast),
    ).rejects.toBe(err)
    expect(calls).toBe(1)
  })

  test('stops after maxAttempts and throws the last error', async () => {
    let calls = 0
    await expect(
      withRetry(async () => {
        calls++
        throw new ThrottledError(`busy ${calls}`)
      }, fast),
    ).rejects.toThrow('busy 5')
    expect(calls).toBe(5)
  })

  test('stops when the next attempt would pass maxElapsedMs', async () => {
    let now = 0
    let calls = 0
    await expect(
      withRetry(
        async () => {
          calls++
          now += 400
          throw new ThrottledError('busy')
        },
        retryPolicy({ initialDelayMs: 1, jitter: 0, maxElapsedMs: 1000, maxAttempts: 100 }),
        { now: () => now },
      ),
    ).rejects.toThrow('busy')
    // Attempts end at 400, 800 and 1200 ms; a fourth would start past the budget.
    expect(calls).toBe(3)
  })

  test('Retry-After stretches the wait', async () => {
    let calls = 0
    const started = Date.now()
    await withRetry(async () => {
      if (++calls === 1) {
        const err = new ThrottledError('busy')
        rememberRetryAfter(err, 60)
        throw err
      }
      return 'ok'
    }, fast)
    expect(Date.now() - started).toBeGreaterThanOrEqual(55)
  })

  test('shouldRetry can veto, and beforeRetry runs between attempts', async () => {
    let calls = 0
    const seen: number[] = []
    await expect(
      withRetry(
        async () => {
          calls++
          throw new ThrottledError('busy')
        },
        fast,
        { shouldRetry: (_e, attempt) => attempt < 2, beforeRetry: (_e, attempt) => void seen.push(attempt) },
      ),
    ).rejects.toThrow('busy')
    expect(calls).toBe(2)
    expect(seen).toEqual([1])
  })

  test('an aborted signal ends the retries', async () => {
    const ctl = new AbortController()
    let calls = 0
    await expect(
      withRetry(
        async () => {
          calls++
          ctl.abort()
          throw new ThrottledError('busy')
        },
        fast,
        { signal: ctl.signal },
      ),
    ).rejects.toThrow('busy')
    expect(calls).toBe(1)
  })
})
