/**
 * The routing table of each exchange type, behind one small interface so the registry does not
 * branch on the type for every record.
 *
 * A router holds (bindingKey, topic) pairs and answers which distinct topics a routing key reaches.
 * It trusts its caller: the registry validates names and keeps the authoritative binding list, and
 * only tells a router about pairs it has just added or removed.
 */
import { TopicTrie } from './topic-matcher.js'

/** RabbitMQ's three routing exchange types (docs/http-api.md, "Exchanges"). */
export const ExchangeTypes = { direct: 'direct', topic: 'topic', fanout: 'fanout' } as const
export type ExchangeType = (typeof ExchangeTypes)[keyof typeof ExchangeTypes]

export interface ExchangeRouter {
  add(bindingKey: string, topic: string): void
  remove(bindingKey: string, topic: string): void
  /** Distinct topics the routing key reaches, in a fresh array the caller may keep. */
  route(routingKey: string): string[]
}

/** Direct: the binding key must equal the routing key, compared as whole strings. */
class DirectRouter implements ExchangeRouter {
  readonly #topicsByKey = new Map<string, Set<string>>()

  add(bindingKey: string, topic: string): void {
    let topics = this.#topicsByKey.get(bindingKey)
    if (topics === undefined) {
      topics = new Set()
      this.#topicsByKey.set(bindingKey, topics)
    }
    topics.add(topic)
  }

  remove(bindingKey: string, topic: string): void {
    const topics = this.#topicsByKey.get(bindingKey)
    if (topics === undefined) return
    topics.delete(topic)
    if (topics.size === 0) this.#topicsByKey.delete(bindingKey)
  }

  route(routingKey: string): string[] {
    const topics = this.#topicsByKey.get(routingKey)
    return topics === undefined ? [] : [...topics]
  }
}

/** Topic: RabbitMQ's `*` / `#` word patterns, matched by a trie (see topic-matcher.ts). */
class TopicRouter implements ExchangeRouter {
  readonly #trie = new TopicTrie<string>()

  add(bindingKey: string, topic: string): void {
    this.#trie.add(bindingKey, topic)
  }

  remove(bindingKey: string, topic: string): void {
    this.#trie.remove(bindingKey, topic)
  }

  route(routingKey: string): string[] {
    return [...this.#trie.match(routingKey)]
  }
}

/**
 * Fanout: every bound topic. The registry stores fanout bindings with the key "", so a topic has
 * one binding at most; the count still guards against a caller that adds a topic twice.
 */
class FanoutRouter implements ExchangeRouter {
  readonly #bindingsByTopic = new Map<string, number>()

  add(_bindingKey: string, topic: string): void {
    this.#bindingsByTopic.set(topic, (this.#bindingsByTopic.get(topic) ?? 0) + 1)
  }

  remove(_bindingKey: string, topic: string): void {
    const count = this.#bindingsByTopic.get(topic)
    if (count === undefined) return
    if (count <= 1) this.#bindingsByTopic.delete(topic)
    else this.#bindingsByTopic.set(topic, count - 1)
  }

  route(_routingKey: string): string[] {
    return [...this.#bindingsByTopic.keys()]
  }
}

export function createExchangeRouter(type: ExchangeType): ExchangeRouter {
  switch (type) {
    case ExchangeTypes.direct:
      return new DirectRouter()
    case ExchangeTypes.topic:
      return new TopicRouter()
    case ExchangeTypes.fanout:
      return new FanoutRouter()
  }
}
