/**
 * The fetch budget's contract: a fetch that fits holds its bytes at once; one that does not waits
 * its turn (first come, first served) and is let in when others give bytes back, or gets THROTTLED
 * after the wait; a lone fetch is always let in, whatever its size; a hold released for good
 * (response sent, client gone) never holds bytes again.
 */
import { describe, expect, it } from 'vitest'
import { FETCH_BUDGET_WAIT_MS, FetchBudget } from '../../../src/broker/fetch-budget.js'
import { ThrottledError } from '../../../src/errors.js'

describe('FetchBudget', () => {
  it('holds what fits, and always lets a lone fetch in', async () => {
    const budget = new FetchBudget(100)
    const big = budget.hold()
    await big.reserve(500)
    expect(budget.inFlightBytes).toBe(500)
    big.release()
    const a = budget.hold()
    const b = budget.hold()
    await a.reserve(60)
    await b.reserve(40)
    expect(budget.inFlightBytes).toBe(100)
    a.resize(10)
    expect(budget.inFlightBytes).toBe(50)
  })

  it('lets a waiting fetch in when bytes come back, in arrival order', async () => {
    const budget = new FetchBudget(100)
    const first = budget.hold()
    await first.reserve(100)
    const second = budget.hold()
    const third = budget.hold()
    const order: string[] = []
    const waits = [
      second.reserve(80).then(() => order.push('second')),
      third.reserve(10).then(() => order.push('third')),
    ]
    expect(budget.queued).toBe(2)
    first.release()
    await Promise.all(waits)
    expect(order).toEqual(['second', 'third'])
    expect(budget.inFlightBytes).toBe(90)
  })

  it('answers THROTTLED with a retry hint after the wait', async () => {
    const budget = new FetchBudget(100)
    await budget.hold().reserve(100)
    const started = Date.now()
    const err = await budget
      .hold()
      .reserve(1)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ThrottledError)
    expect((err as ThrottledError).details).toMatchObject({
      inFlightBytes: 100,
      limitBytes: 100,
      retryAfterMs: 1000,
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(FETCH_BUDGET_WAIT_MS - 50)
    expect(budget.queued).toBe(0)
  })

  it('never holds bytes again once released for good', async () => {
    const budget = new FetchBudget(100)
    const first = budget.hold()
    await first.reserve(100)
    const gone = budget.hold()
    const waiting = gone.reserve(50)
    gone.release() // the client went away while waiting
    first.release()
    await waiting
    expect(budget.inFlightBytes).toBe(0)
    expect(gone.tryReserve(10)).toBe(true)
    expect(budget.inFlightBytes).toBe(0)
  })
})
