/**
 * A trie of RabbitMQ topic bindings, so a topic exchange routes a record in one walk over the
 * routing key's words instead of testing a regex per binding.
 *
 * Semantics follow RabbitMQ (rabbitmq/rabbitmq-server, deps/rabbit/src/rabbit_db_topic_exchange.erl:
 * `split_topic_key_binary/1`, `trie_match/5`, `trie_match_skip_any/5`):
 * - A key is split on every '.', keeping empty words: `a..b` is `a`, ``, `b`, and `a.` is `a`, ``.
 *   The empty key is the one exception: it has zero words, not one empty word (RabbitMQ's
 *   `split_topic_key_binary(<<>>) -> []`). Binding keys and routing keys are split the same way.
 * - In a binding key only a whole word `*` or `#` is a wildcard (`a*` is a literal word).
 *   `*` matches exactly one word, the empty word included; `#` matches zero or more words.
 *   So `#` matches every routing key including "", `*` does not match "" but matches ".",
 *   and the binding key "" matches only the routing key "".
 *
 * Why the memo: a binding such as `#.#.#.x` makes a naive walk try every split of the routing
 * key between the `#`s, which is O(words^hashes). A walk state is (trie node, words consumed).
 * A state reached through a `#` child at position i goes on to positions i..n, so per `#` node we
 * remember the lowest position already scheduled in this match (`hashFrom`); any later entry only
 * schedules the positions below it. Every other state has a unique parent state, so each
 * (node, position) pair is visited at most once and a match costs O(trie nodes x (words + 1)).
 * The memo lives on the nodes and is invalidated by bumping an epoch per match, and the work stack
 * is reused, so a match allocates only the key's words and its result. Matching is synchronous and
 * not re-entrant, which is what makes sharing the memo and the stack safe.
 */

/** The binding-key words that are wildcards; every other word, the empty one included, is literal. */
export const TopicWildcards = { oneWord: '*', anyWords: '#' } as const
export type TopicWildcard = (typeof TopicWildcards)[keyof typeof TopicWildcards]

/** Splits a binding or routing key into words the way RabbitMQ does: "" has no words. */
export function splitTopicWords(key: string): string[] {
  return key === '' ? [] : key.split('.')
}

class TopicTrieNode<T> {
  readonly literals = new Map<string, TopicTrieNode<T>>()
  oneWord: TopicTrieNode<T> | undefined
  anyWords: TopicTrieNode<T> | undefined
  /** Values of the bindings whose key ends at this node. */
  values: Set<T> | undefined
  /** Match epoch in which `hashFrom` was last set; a stale epoch means "not entered yet". */
  hashEpoch = 0
  /** Lowest routing-key position this `#` node has been scheduled at in the current match. */
  hashFrom = 0

  child(word: string): TopicTrieNode<T> | undefined {
    if (word === TopicWildcards.oneWord) return this.oneWord
    if (word === TopicWildcards.anyWords) return this.anyWords
    return this.literals.get(word)
  }

  addChild(word: string): TopicTrieNode<T> {
    const existing = this.child(word)
    if (existing !== undefined) return existing
    const created = new TopicTrieNode<T>()
    if (word === TopicWildcards.oneWord) this.oneWord = created
    else if (word === TopicWildcards.anyWords) this.anyWords = created
    else this.literals.set(word, created)
    return created
  }

  removeChild(word: string): void {
    if (word === TopicWildcards.oneWord) this.oneWord = undefined
    else if (word === TopicWildcards.anyWords) this.anyWords = undefined
    else this.literals.delete(word)
  }

  isEmpty(): boolean {
    return (
      (this.values === undefined || this.values.size === 0) &&
      this.literals.size === 0 &&
      this.oneWord === undefined &&
      this.anyWords === undefined
    )
  }
}

/**
 * Bindings (binding key -> value) that can be matched against a routing key. A (binding key,
 * value) pair is stored once: adding it again is a no-op, and `size` counts distinct pairs.
 */
export class TopicTrie<T> {
  readonly #root = new TopicTrieNode<T>()
  #size = 0
  #epoch = 0
  // The match work stack, kept between calls so a match does not allocate it (match is not re-entrant).
  readonly #nodes: TopicTrieNode<T>[] = []
  readonly #positions: number[] = []

  /** Number of distinct (binding key, value) pairs. */
  get size(): number {
    return this.#size
  }

  /** Adds a binding; returns false when this exact pair was already present. */
  add(bindingKey: string, value: T): boolean {
    let node = this.#root
    for (const word of splitTopicWords(bindingKey)) node = node.addChild(word)
    node.values ??= new Set<T>()
    if (node.values.has(value)) return false
    node.values.add(value)
    this.#size++
    return true
  }

  /**
   * Removes a binding; returns false when the pair was not present. Nodes left without values or
   * children are pruned, so a removed binding leaves no path for later matches to walk.
   */
  remove(bindingKey: string, value: T): boolean {
    const words = splitTopicWords(bindingKey)
    const path: TopicTrieNode<T>[] = [this.#root]
    let node = this.#root
    for (const word of words) {
      const next = node.child(word)
      if (next === undefined) return false
      path.push(next)
      node = next
    }
    if (node.values === undefined || !node.values.delete(value)) return false
    if (node.values.size === 0) node.values = undefined
    this.#size--
    for (let depth = words.length; depth > 0; depth--) {
      const child = path[depth]!
      if (!child.isEmpty()) break
      path[depth - 1]!.removeChild(words[depth - 1]!)
    }
    return true
  }

  /** Every value whose binding key matches the routing key, each once. */
  match(routingKey: string): Set<T> {
    const result = new Set<T>()
    if (this.#size === 0) return result
    const words = splitTopicWords(routingKey)
    const end = words.length
    const epoch = ++this.#epoch
    // An explicit stack instead of recursion: a long routing key must not overflow the call stack.
    const nodes = this.#nodes
    const positions = this.#positions
    nodes.push(this.#root)
    positions.push(0)
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const position = positions.pop()!
      const hash = node.anyWords
      if (hash !== undefined) {
        // `#` may swallow words position..end-1; schedule each resulting state once per match.
        if (hash.hashEpoch !== epoch) {
          hash.hashEpoch = epoch
          hash.hashFrom = end + 1
        }
        for (let next = position; next < hash.hashFrom; next++) {
          nodes.push(hash)
          positions.push(next)
        }
        if (position < hash.hashFrom) hash.hashFrom = position
      }
      if (position === end) {
        if (node.values !== undefined) for (const value of node.values) result.add(value)
        continue
      }
      const literal = node.literals.get(words[position]!)
      if (literal !== undefined) {
        nodes.push(literal)
        positions.push(position + 1)
      }
      if (node.oneWord !== undefined) {
        nodes.push(node.oneWord)
        positions.push(position + 1)
      }
    }
    return result
  }
}
