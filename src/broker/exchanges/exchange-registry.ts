/**
 * Exchanges and their bindings, in memory: RabbitMQ's routing in front of Strata's topics.
 *
 * An exchange never stores records. `route()` turns a routing key into the distinct topics the
 * record must be appended to; the produce path appends it once to each, or to `alternateTopic`
 * when the answer is empty. This module does no I/O, so routing decisions stay cheap and testable;
 * `ExchangeStore` (exchange-store.ts) persists the state after each change.
 *
 * Decisions, where RabbitMQ leaves room or Strata differs:
 * - Names follow the topic-name rule of docs/http-api.md, `[A-Za-z0-9._-]{1,249}` and not `.` or `..`,
 *   and a bad name is INVALID_REQUEST (it is not a topic name, so not INVALID_TOPIC_NAME).
 * - A binding is the pair (topic, bindingKey). The key defaults to "" as in AMQP's queue.bind;
 *   binding the same pair again is a no-op, and unbinding a missing pair is a no-op too (RabbitMQ
 *   answers unbind-ok for a missing binding). Fanout ignores keys, so a fanout binding is stored
 *   with the key "" whatever was sent: one binding per topic, and unbind needs no key.
 * - Creating a name that exists is EXCHANGE_EXISTS even when the declaration is identical
 *   (docs/http-api.md, "Exchanges": 409; RabbitMQ would accept an equivalent redeclare).
 * - `removeTopic()` drops every binding to a deleted topic and clears `alternateTopic` where it
 *   named that topic. RabbitMQ keeps a dangling alternate-exchange name and drops the message; here
 *   a dangling alternate would make every unroutable record fail its produce with TOPIC_NOT_FOUND,
 *   and a topic later created under the same name is a new log its owner did not choose.
 * - Stats (`routed`, `unroutable`) count records since this process started and are not
 *   persisted: writing the file once per record would cost more than the routing. A record is
 *   `unroutable` when no binding matched, whether or not an alternate topic then took it. The HTTP
 *   publish matches with `match()` and calls `count()` only once its writes are confirmed, so a
 *   refused publish leaves the counters as they were.
 */
import {
  ExchangeExistsError,
  ExchangeNotFoundError,
  InvalidRequestError,
  TopicNotFoundError,
} from '../../errors.js'
import type { ExchangeRouter, ExchangeType } from './exchange-routers.js'
import { createExchangeRouter, ExchangeTypes } from './exchange-routers.js'

export interface ExchangeBinding {
  topic: string
  bindingKey: string
}

export interface ExchangeStats {
  routed: number
  unroutable: number
}

/** What the API answers for an exchange; `stats` is left out of snapshots. */
export interface ExchangeDescription {
  name: string
  type: ExchangeType
  alternateTopic: string | null
  bindings: ExchangeBinding[]
  stats?: ExchangeStats
}

export interface CreateExchangeRequest {
  name: string
  type: ExchangeType
  alternateTopic?: string | null
}

export interface BindingRequest {
  topic: string
  bindingKey?: string
}

/** An exchange as it is persisted: its declaration and its bindings, without counters. */
export type ExchangeDefinition = Omit<ExchangeDescription, 'stats'>

/** The whole registry as ExchangeStore writes it; `version` lets a later format read this one. */
export interface ExchangeRegistrySnapshot {
  version: 1
  exchanges: ExchangeDefinition[]
}

export interface ExchangeRegistryOptions {
  /**
   * Lets the registry refuse a binding or alternate topic that does not exist (TOPIC_NOT_FOUND).
   * Without it only the topic name's shape is checked. Not consulted when restoring a snapshot,
   * since topics may load after exchanges; the broker reconciles with `removeTopic()`.
   */
  topicExists?: (topic: string) => boolean
}

/** AMQP carries binding keys as a shortstr, so RabbitMQ never sees one over 255 bytes. */
export const MAX_BINDING_KEY_BYTES = 255

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,249}$/

interface ExchangeState {
  readonly name: string
  readonly type: ExchangeType
  alternateTopic: string | null
  /** Keyed by `bindingId()`, in the order the bindings were made. */
  readonly bindings: Map<string, ExchangeBinding>
  readonly router: ExchangeRouter
  stats: ExchangeStats
}

/** `|` cannot occur in a topic name, so topic first then key is unambiguous. */
function bindingId(binding: ExchangeBinding): string {
  return `${binding.topic}|${binding.bindingKey}`
}

function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name) && name !== '.' && name !== '..'
}

function checkExchangeName(name: unknown): asserts name is string {
  if (!isValidName(name)) {
    throw new InvalidRequestError(
      `exchange name ${JSON.stringify(name)} must match [A-Za-z0-9._-]{1,249} and not be "." or ".."`,
      { field: 'name', name },
    )
  }
}

function checkExchangeType(type: unknown): asserts type is ExchangeType {
  if (!Object.hasOwn(ExchangeTypes, String(type))) {
    throw new InvalidRequestError(`exchange type ${JSON.stringify(type)} must be direct, topic or fanout`, {
      field: 'type',
      type,
    })
  }
}

export class ExchangeRegistry {
  readonly #exchanges = new Map<string, ExchangeState>()
  readonly #topicExists: ((topic: string) => boolean) | undefined

  constructor(options: ExchangeRegistryOptions = {}) {
    this.#topicExists = options.topicExists
  }

  /** A registry holding a snapshot's exchanges, with zeroed stats. */
  static fromSnapshot(
    snapshot: ExchangeRegistrySnapshot,
    options: ExchangeRegistryOptions = {},
  ): ExchangeRegistry {
    const registry = new ExchangeRegistry(options)
    registry.restore(snapshot)
    return registry
  }

  /** Number of exchanges. */
  get size(): number {
    return this.#exchanges.size
  }

  has(name: string): boolean {
    return this.#exchanges.has(name)
  }

  /** Declares an exchange; throws INVALID_REQUEST, EXCHANGE_EXISTS or TOPIC_NOT_FOUND. */
  create(request: CreateExchangeRequest): ExchangeDescription {
    const state = this.#newState(request, true)
    if (this.#exchanges.has(state.name)) {
      throw new ExchangeExistsError(`exchange "${state.name}" already exists`, { exchange: state.name })
    }
    this.#exchanges.set(state.name, state)
    return describe(state)
  }

  /** Deletes an exchange and its bindings; the bound topics are untouched. */
  delete(name: string): void {
    this.#require(name)
    this.#exchanges.delete(name)
  }

  get(name: string): ExchangeDescription {
    return describe(this.#require(name))
  }

  /** Every exchange, by name. */
  list(): ExchangeDescription[] {
    return [...this.#exchanges.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(describe)
  }

  /** Adds a binding; returns false when it already existed (binding is idempotent). */
  bind(name: string, request: BindingRequest): boolean {
    const state = this.#require(name)
    const binding = this.#normalizeBinding(state, request, true)
    const id = bindingId(binding)
    if (state.bindings.has(id)) return false
    state.bindings.set(id, binding)
    state.router.add(binding.bindingKey, binding.topic)
    return true
  }

  /** Removes a binding; returns false when there was none (unbinding is idempotent). */
  unbind(name: string, request: BindingRequest): boolean {
    const state = this.#require(name)
    const binding = this.#normalizeBinding(state, request, false)
    return removeBinding(state, bindingId(binding))
  }

  /**
   * Forgets a deleted topic: drops every binding to it and clears `alternateTopic` where it named
   * the topic. Returns the names of the exchanges that changed, so the caller knows whether to persist.
   */
  removeTopic(topic: string): string[] {
    const changed: string[] = []
    for (const state of this.#exchanges.values()) {
      let touched = false
      for (const [id, binding] of [...state.bindings]) {
        if (binding.topic === topic) touched = removeBinding(state, id) || touched
      }
      if (state.alternateTopic === topic) {
        state.alternateTopic = null
        touched = true
      }
      if (touched) changed.push(state.name)
    }
    return changed
  }

  /**
   * The distinct topics a record with this routing key goes to, or [] when no binding matches
   * (the caller then uses `alternateTopic`). Counts the record in the exchange's stats.
   */
  route(name: string, routingKey: string): string[] {
    const topics = this.match(name, routingKey)
    this.count(name, topics.length === 0 ? 0 : 1, topics.length === 0 ? 1 : 0)
    return topics
  }

  /** `route()` without counting: a publish matches every record first and counts once it is written. */
  match(name: string, routingKey: string): string[] {
    return this.#require(name).router.route(routingKey)
  }

  /** Adds to an exchange's stats: records that matched a binding, and records that matched none. */
  count(name: string, routed: number, unroutable: number): void {
    const { stats } = this.#require(name)
    stats.routed += routed
    stats.unroutable += unroutable
  }

  /** The persistable state: declarations and bindings in creation order, no stats. */
  toSnapshot(): ExchangeRegistrySnapshot {
    const exchanges = [...this.#exchanges.values()].map((state) => {
      const { stats: _stats, ...definition } = describe(state)
      return definition
    })
    return { version: 1, exchanges }
  }

  /**
   * Replaces the whole state with a snapshot's, all or nothing: a snapshot with a bad name, type,
   * binding or a duplicate exchange throws and leaves the registry as it was. Stats of exchanges
   * present before and after are kept, so rolling back a failed write does not reset counters.
   */
  restore(snapshot: ExchangeRegistrySnapshot): void {
    const restored = new Map<string, ExchangeState>()
    for (const definition of snapshot.exchanges) {
      const state = this.#stateOf(definition)
      if (restored.has(state.name)) {
        throw new ExchangeExistsError(`exchange "${state.name}" appears twice`, { exchange: state.name })
      }
      restored.set(state.name, state)
    }
    this.#exchanges.clear()
    for (const [name, state] of restored) this.#exchanges.set(name, state)
  }

  /**
   * Sets one exchange to a stored definition (a cluster broker taking in a change made elsewhere),
   * keeping its stats; throws, changing nothing, when the definition breaks the registry's rules.
   * Topics are not checked to exist, as in `restore()`.
   */
  replaceExchange(definition: ExchangeDefinition): void {
    const state = this.#stateOf(definition)
    this.#exchanges.set(state.name, state)
  }

  /** Forgets an exchange if it exists (a deletion made elsewhere); returns whether it did. */
  forget(name: string): boolean {
    return this.#exchanges.delete(name)
  }

  #stateOf(definition: ExchangeDefinition): ExchangeState {
    const state = this.#newState(definition, false)
    for (const request of definition.bindings) {
      const binding = this.#normalizeBinding(state, request, false)
      const id = bindingId(binding)
      if (state.bindings.has(id)) continue
      state.bindings.set(id, binding)
      state.router.add(binding.bindingKey, binding.topic)
    }
    state.stats = this.#exchanges.get(state.name)?.stats ?? state.stats
    return state
  }

  #require(name: string): ExchangeState {
    const state = this.#exchanges.get(name)
    if (state === undefined)
      throw new ExchangeNotFoundError(`exchange "${name}" not found`, { exchange: name })
    return state
  }

  #newState(request: CreateExchangeRequest, checkTopics: boolean): ExchangeState {
    checkExchangeName(request.name)
    checkExchangeType(request.type)
    const alternateTopic = request.alternateTopic ?? null
    if (alternateTopic !== null) this.#checkTopic(alternateTopic, 'alternateTopic', checkTopics)
    return {
      name: request.name,
      type: request.type,
      alternateTopic,
      bindings: new Map(),
      router: createExchangeRouter(request.type),
      stats: { routed: 0, unroutable: 0 },
    }
  }

  #normalizeBinding(state: ExchangeState, request: BindingRequest, checkTopics: boolean): ExchangeBinding {
    this.#checkTopic(request.topic, 'topic', checkTopics)
    const bindingKey = request.bindingKey ?? ''
    if (typeof bindingKey !== 'string' || Buffer.byteLength(bindingKey) > MAX_BINDING_KEY_BYTES) {
      throw new InvalidRequestError(`bindingKey must be a string of at most ${MAX_BINDING_KEY_BYTES} bytes`, {
        field: 'bindingKey',
      })
    }
    return { topic: request.topic, bindingKey: state.type === ExchangeTypes.fanout ? '' : bindingKey }
  }

  #checkTopic(topic: unknown, field: string, checkExists: boolean): asserts topic is string {
    if (!isValidName(topic)) {
      throw new InvalidRequestError(`${field} ${JSON.stringify(topic)} is not a valid topic name`, {
        field,
        topic,
      })
    }
    if (checkExists && this.#topicExists !== undefined && !this.#topicExists(topic)) {
      throw new TopicNotFoundError(`topic "${topic}" not found`, { topic })
    }
  }
}

function removeBinding(state: ExchangeState, id: string): boolean {
  const binding = state.bindings.get(id)
  if (binding === undefined) return false
  state.bindings.delete(id)
  state.router.remove(binding.bindingKey, binding.topic)
  return true
}

function describe(state: ExchangeState): ExchangeDescription {
  return {
    name: state.name,
    type: state.type,
    alternateTopic: state.alternateTopic,
    bindings: [...state.bindings.values()].map((binding) => ({ ...binding })),
    stats: { ...state.stats },
  }
}
