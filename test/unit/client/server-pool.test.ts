/**
 * Server pool contract: stays on a working server, moves to the next healthy one after a
 * failure, cools a failing server down for longer with each consecutive failure, and when every
 * server is cooling down still answers with the one that recovers first.
 */
import { describe, expect, test } from 'vitest'
import { normalizeUrl, ServerPool } from '../../../src/client/server-pool.js'

describe('ServerPool', () => {
  test('sticks to the current server while it works', () => {
    const pool = new ServerPool(['http://a:1', 'http://b:2'])
    expect(pool.pick()).toBe('http://a:1')
    pool.markSuccess('http://a:1')
    expect(pool.pick()).toBe('http://a:1')
  })

  test('moves on after a failure and returns once the cooldown is over', () => {
    let now = 1000
    const pool = new ServerPool(['http://a:1', 'http://b:2'], { cooldownMs: 100, now: () => now })
    pool.markFailure('http://a:1')
    expect(pool.pick()).toBe('http://b:2')
    pool.markSuccess('http://b:2')
    now += 200
    // b works: the pool stays there rather than flapping back.
    expect(pool.pick()).toBe('http://b:2')
    pool.markFailure('http://b:2')
    expect(pool.pick()).toBe('http://a:1')
  })

  test('cooldowns double with consecutive failures, up to the cap', () => {
    const now = 0
    const pool = new ServerPool(['http://a:1'], { cooldownMs: 100, maxCooldownMs: 300, now: () => now })
    const a = () => pool.servers[0]
    pool.markFailure('http://a:1')
    expect(a()?.cooldownUntil).toBe(100)
    pool.markFailure('http://a:1')
    expect(a()?.cooldownUntil).toBe(200)
    pool.markFailure('http://a:1')
    expect(a()?.cooldownUntil).toBe(300)
    expect(a()?.consecutiveFailures).toBe(3)
    pool.markSuccess('http://a:1')
    expect(a()?.consecutiveFailures).toBe(0)
    expect(a()?.failures).toBe(3)
    expect(a()?.successes).toBe(1)
  })

  test('when all are cooling down, picks the one whose cooldown ends first', () => {
    let now = 0
    const pool = new ServerPool(['http://a:1', 'http://b:2'], { cooldownMs: 100, now: () => now })
    pool.markFailure('http://a:1')
    pool.markFailure('http://a:1')
    now = 10
    pool.markFailure('http://b:2')
    expect(pool.pick()).toBe('http://b:2')
  })

  test('honours an exclude set when something else is available', () => {
    const pool = new ServerPool(['http://a:1', 'http://b:2'])
    expect(pool.pick(new Set(['http://a:1']))).toBe('http://b:2')
    expect(pool.pick(new Set(['http://a:1', 'http://b:2']))).toBe('http://a:1')
  })

  test('learns servers once, normalised', () => {
    const pool = new ServerPool(['127.0.0.1:8082/'])
    expect(pool.add('http://127.0.0.1:8082')).toBe('http://127.0.0.1:8082')
    pool.add('http://127.0.0.1:9000/')
    expect(pool.servers.map((s) => [s.url, s.source])).toEqual([
      ['http://127.0.0.1:8082', 'bootstrap'],
      ['http://127.0.0.1:9000', 'discovered'],
    ])
  })

  test('needs at least one URL; bad URLs are a TypeError', () => {
    expect(() => new ServerPool([])).toThrow(TypeError)
    expect(() => normalizeUrl('http://')).toThrow(TypeError)
  })
})
