/**
 * Contract: TopicTrie matches exactly as RabbitMQ's topic exchange does
 * (rabbitmq/rabbitmq-server, deps/rabbit/src/rabbit_db_topic_exchange.erl). Keys split on every
 * '.', empty words count as words, "" has zero words; `*` is one word, `#` zero or more. Adding and
 * removing bindings leaves no stale match, and matching stays polynomial with many `#`s.
 * A randomized cross-check against a plain recursive matcher prints its seed; rerun a failure with
 * STRATA_TEST_SEED=<seed>.
 */
import { describe, expect, test } from 'vitest'
import { splitTopicWords, TopicTrie } from '../../../../src/broker/exchanges/topic-matcher.js'

/** [binding key, routing key, matches] */
const cases: Array<[string, string, boolean]> = [
  // Literal words.
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.b.c', 'a.b.c.d', false],
  ['a', 'a', true],
  ['a', 'b', false],
  ['a*', 'ab', false],
  ['a*', 'a*', true],
  // `*`: exactly one word.
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*.c', 'a.b.b.c', false],
  ['a.*.c', 'a..c', true],
  ['*', 'a', true],
  ['*', '', false],
  ['*', 'a.b', false],
  ['*', '.', false],
  ['*.*', 'a.b', true],
  ['*.*', 'a', false],
  ['*.*', 'a.b.c', false],
  ['*.*', '.', true],
  ['*.*', 'a.', true],
  // `#`: zero or more words.
  ['#', '', true],
  ['#', 'a', true],
  ['#', 'a.b.c', true],
  ['#', '.', true],
  ['#', '..', true],
  ['a.#', 'a', true],
  ['a.#', 'a.b', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'b.a', false],
  ['a.#', '', false],
  ['a.#', 'ab', false],
  ['#.c', 'c', true],
  ['#.c', 'a.b.c', true],
  ['#.c', 'c.a', false],
  ['#.c', '', false],
  ['a.#.c', 'a.c', true],
  ['a.#.c', 'a.b.c', true],
  ['a.#.c', 'a.b.b.c', true],
  ['a.#.c', 'a.b', false],
  ['a.#.c', 'a.c.d', false],
  ['a.#.c', 'a.c.c', true],
  // Consecutive and mixed wildcards.
  ['#.#', '', true],
  ['#.#', 'a', true],
  ['#.#', 'a.b.c', true],
  ['*.#', '', false],
  ['*.#', 'a', true],
  ['*.#', 'a.b.c', true],
  ['#.*', '', false],
  ['#.*', 'a', true],
  ['#.*', 'a.b.c', true],
  ['#.*.#', 'a', true],
  ['*.*.#', 'a', false],
  ['#.a.#', 'b.a.c', true],
  ['#.a.#', 'b.c', false],
  ['a.*.#.c', 'a.b.c', true],
  ['a.*.#.c', 'a.c', false],
  // Empty words are words; the empty key has none.
  ['', '', true],
  ['', 'a', false],
  ['', '.', false],
  ['a..b', 'a..b', true],
  ['a..b', 'a.b', false],
  ['a.', 'a.', true],
  ['a.', 'a', false],
  ['.', '.', true],
  ['.', '', false],
  ['a.*', 'a.', true],
  ['#.', 'a.', true],
  ['#.', '', false],
  // A routing key's `*` and `#` words are literal text, matched like any word.
  ['a.*', 'a.#', true],
  ['a.b', 'a.*', false],
  ['a.#', 'a.#', true],
]

describe('splitTopicWords', () => {
  test('splits on every dot, keeps empty words, and gives "" no words', () => {
    expect(splitTopicWords('')).toEqual([])
    expect(splitTopicWords('a')).toEqual(['a'])
    expect(splitTopicWords('a..b')).toEqual(['a', '', 'b'])
    expect(splitTopicWords('.')).toEqual(['', ''])
    expect(splitTopicWords('a.')).toEqual(['a', ''])
  })
})

describe('TopicTrie matches like RabbitMQ', () => {
  test.each(cases)('binding %j, routing key %j -> %s', (bindingKey, routingKey, expected) => {
    const trie = new TopicTrie<string>()
    trie.add(bindingKey, 'q')
    expect(trie.match(routingKey).has('q')).toBe(expected)
  })

  test('one trie holding every case binding answers each routing key with exactly its matches', () => {
    const trie = new TopicTrie<string>()
    for (const [bindingKey] of cases) trie.add(bindingKey, bindingKey)
    const routingKeys = new Set(cases.map(([, routingKey]) => routingKey))
    for (const routingKey of routingKeys) {
      const expected = new Set(
        cases.map(([bindingKey]) => bindingKey).filter((b) => referenceMatch(b, routingKey)),
      )
      expect(trie.match(routingKey), routingKey).toEqual(expected)
    }
  })
})

describe('TopicTrie bindings', () => {
  test('a value reached by several bindings appears once', () => {
    const trie = new TopicTrie<string>()
    trie.add('a.*', 'q')
    trie.add('#', 'q')
    trie.add('a.b', 'q')
    expect([...trie.match('a.b')]).toEqual(['q'])
  })

  test('adding the same pair twice is one binding', () => {
    const trie = new TopicTrie<string>()
    expect(trie.add('a.#', 'q')).toBe(true)
    expect(trie.add('a.#', 'q')).toBe(false)
    expect(trie.size).toBe(1)
    expect(trie.remove('a.#', 'q')).toBe(true)
    expect(trie.match('a.b').size).toBe(0)
  })

  test('removing one of two identical binding keys keeps the other value', () => {
    const trie = new TopicTrie<string>()
    trie.add('orders.*', 'q1')
    trie.add('orders.*', 'q2')
    expect(trie.size).toBe(2)
    expect(trie.remove('orders.*', 'q1')).toBe(true)
    expect(trie.size).toBe(1)
    expect(trie.match('orders.eu')).toEqual(new Set(['q2']))
  })

  test('removing leaves no stale match, including on shared prefixes', () => {
    const trie = new TopicTrie<string>()
    trie.add('a.#', 'q1')
    trie.add('a.#.c', 'q2')
    trie.add('a.b.c', 'q3')
    trie.remove('a.#', 'q1')
    expect(trie.match('a.b.c')).toEqual(new Set(['q2', 'q3']))
    expect(trie.match('a')).toEqual(new Set())
    trie.remove('a.#.c', 'q2')
    trie.remove('a.b.c', 'q3')
    expect(trie.size).toBe(0)
    expect(trie.match('a.b.c')).toEqual(new Set())
    trie.add('a.b.c', 'q4')
    expect(trie.match('a.b.c')).toEqual(new Set(['q4']))
  })

  test('removing an absent pair is a no-op that reports false', () => {
    const trie = new TopicTrie<string>()
    trie.add('a.b', 'q')
    expect(trie.remove('a.b', 'other')).toBe(false)
    expect(trie.remove('a.b.c', 'q')).toBe(false)
    expect(trie.remove('a', 'q')).toBe(false)
    expect(trie.size).toBe(1)
    expect(trie.match('a.b')).toEqual(new Set(['q']))
  })

  test('the empty binding key is bound at the root and can be removed', () => {
    const trie = new TopicTrie<string>()
    trie.add('', 'q')
    trie.add('#', 'all')
    expect(trie.match('')).toEqual(new Set(['q', 'all']))
    trie.remove('', 'q')
    expect(trie.match('')).toEqual(new Set(['all']))
  })
})

describe('TopicTrie stays fast', () => {
  test('many # against a long key is polynomial, not exponential', () => {
    const trie = new TopicTrie<number>()
    trie.add('#.#.#.#.#.#.#.#.#.#.x', 1)
    trie.add('#.a.#.a.#.a.#.a.#.y', 2)
    const longKey = Array.from({ length: 300 }, () => 'a').join('.')
    const started = performance.now()
    expect(trie.match(longKey)).toEqual(new Set())
    expect(trie.match(`${longKey}.x`)).toEqual(new Set([1]))
    expect(trie.match(`${longKey}.y`)).toEqual(new Set([2]))
    // A naive walk would try ~300^10 splits; the memoized one does ~11 nodes x 302 positions.
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test('a routing key of 100,000 words does not overflow the stack', () => {
    const trie = new TopicTrie<string>()
    trie.add('#.end', 'q')
    trie.add('*.#', 'p')
    const key = `${'w.'.repeat(100_000)}end`
    expect(trie.match(key)).toEqual(new Set(['q', 'p']))
  })

  test('10,000 bindings match in well under a millisecond each', () => {
    const trie = new TopicTrie<number>()
    const bindingKeys: string[] = []
    for (let i = 0; i < 10_000; i++) {
      bindingKeys.push(
        `svc${i % 100}.${i % 7 === 0 ? '*' : `region${i % 13}`}.${i % 5 === 0 ? '#' : `event${i}`}`,
      )
      trie.add(bindingKeys[i]!, i)
    }
    const started = performance.now()
    for (let i = 0; i < 1000; i++) trie.match(`svc${i % 100}.region${i % 13}.event${i}.extra`)
    expect(performance.now() - started).toBeLessThan(1000)
    const routingKey = 'svc0.region0.event0'
    const expected = new Set(bindingKeys.flatMap((b, i) => (referenceMatch(b, routingKey) ? [i] : [])))
    expect(expected.size).toBeGreaterThan(1)
    expect(trie.match(routingKey)).toEqual(expected)
  })
})

describe('TopicTrie against a reference matcher (randomized)', () => {
  const seed = Number(process.env.STRATA_TEST_SEED ?? Date.now() % 2 ** 31)

  test(`random bindings and keys agree with the reference (seed ${seed})`, () => {
    console.log(`topic-matcher randomized seed: ${seed} (rerun with STRATA_TEST_SEED=${seed})`)
    const random = mulberry32(seed)
    const bindingWords = ['a', 'b', 'c', '', '*', '#']
    const routingWords = ['a', 'b', 'c', '', '*', '#']
    const randomKey = (words: string[], maxWords: number) =>
      Array.from({ length: Math.floor(random() * (maxWords + 1)) }, () => pick(random, words)).join('.')

    for (let round = 0; round < 20; round++) {
      const trie = new TopicTrie<number>()
      const bound = new Map<number, string>()
      for (let i = 0; i < 60; i++) {
        const bindingKey = randomKey(bindingWords, 5)
        bound.set(i, bindingKey)
        trie.add(bindingKey, i)
      }
      for (let i = 0; i < 60; i += 1 + Math.floor(random() * 3)) {
        trie.remove(bound.get(i)!, i)
        bound.delete(i)
      }
      expect(trie.size).toBe(bound.size)
      for (let k = 0; k < 200; k++) {
        const routingKey = randomKey(routingWords, 7)
        const expected = new Set([...bound].filter(([, b]) => referenceMatch(b, routingKey)).map(([i]) => i))
        expect(trie.match(routingKey), `seed ${seed}, routing key ${JSON.stringify(routingKey)}`).toEqual(
          expected,
        )
      }
    }
  })
})

/** The obvious recursive matcher, written from the rules rather than from the trie. */
function referenceMatch(bindingKey: string, routingKey: string): boolean {
  const split = (key: string) => (key === '' ? [] : key.split('.'))
  const matchFrom = (pattern: string[], words: string[]): boolean => {
    if (pattern.length === 0) return words.length === 0
    const [head, ...rest] = pattern
    if (head === '#')
      return matchFrom(rest, words) || (words.length > 0 && matchFrom(pattern, words.slice(1)))
    if (words.length === 0) return false
    return (head === '*' || head === words[0]) && matchFrom(rest, words.slice(1))
  }
  return matchFrom(split(bindingKey), split(routingKey))
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}
