/**
 * Cluster mode: exchanges and bindings live in etcd, one key per exchange, so every broker routes
 * alike and an exchange outlives any broker.
 *
 *     /strata/exchanges/<name>   {name, type, alternateTopic, bindings: [{topic, bindingKey}]}
 *
 * Every broker loads the keys once and then watches them, applying each change to its in-memory
 * `ExchangeRegistry`; routing reads only that memory. A change (create, delete, bind, unbind) is
 * computed on a scratch copy of the one exchange it touches, with the registry's own rules, and
 * written by a transaction that compares the exchange key's mod revision (0: absent), so two brokers
 * changing the same exchange at once cannot lose either change: the loser gets the current value in
 * the same transaction's else branch and computes again (a refusal, such as EXCHANGE_EXISTS, is
 * confirmed against etcd the same way). A change that names a topic (a binding, an
 * alternate topic) also compares that topic's key, so a topic deleted meanwhile cannot keep a new
 * binding. A change answers once this broker's watch has applied it (read-your-writes here; other
 * brokers follow within their watch's delay). Nothing is changed in memory before etcd accepted it,
 * so a refused or failed write leaves nothing behind. When etcd does not answer, the change is
 * NOT_READY (retriable): it may still have been applied, and a retry then meets EXCHANGE_EXISTS (a
 * create), EXCHANGE_NOT_FOUND (a delete) or an idempotent no-op (bind, unbind).
 *
 * A deleted topic's bindings are removed by whichever broker applies the deletion first (each tries,
 * the compare-and-swap lets one write and the others find nothing left), with a compare that the
 * topic is still absent, so a topic re-created under the same name keeps its new bindings.
 * Main thread only.
 */
import type { Etcd3, IKeyValue, IOperation, Watcher } from 'etcd3'
import type {
  BindingRequest,
  CreateExchangeRequest,
  ExchangeDefinition,
  ExchangeDescription,
} from '../broker/exchanges/exchange-registry.js'
import { ExchangeRegistry } from '../broker/exchanges/exchange-registry.js'
import type { ExchangeBackend } from '../broker/exchanges/exchange-store.js'
import { NotReadyError, StrataError, TopicNotFoundError } from '../errors.js'
import { ClusterKeys } from './cluster-records.js'

export const EXCHANGES_PREFIX = `${ClusterKeys.root}exchanges/`
export const exchangeKey = (name: string) => `${EXCHANGES_PREFIX}${name}`

/** Conflicting writers are few (a handful of brokers); past this many losses the client retries. */
const MAX_ATTEMPTS = 10
/** How long a change waits for this broker's watch to bring its own write (usually milliseconds). */
const APPLY_WAIT_MS = 10_000
const RESYNC_DELAY_MS = 500
const CONFLICT_PAUSE_MS = 10

export interface EtcdExchangeOptions {
  client: Etcd3
  /** Whether this broker has the topic (its disk follows etcd); the registry's existence check. */
  topicExists: (topic: string) => boolean
  /** The mod revision of the topic's key as this broker's cluster view shows it, if it has it. */
  topicRevision: (topic: string) => number | undefined
  /** False while this broker's etcd session may have lapsed: changes are NOT_READY then. */
  connected: () => boolean
  logger: { warn(obj: object, msg: string): void }
}

/** A topic a change compares: that it still has this mod revision, or (`absent`) that it is gone. */
type TopicGuard = { topic: string; absent: boolean }

/** A purge found the topic re-created: the bindings to it are the new topic's, not stale. */
class TopicBack extends Error {}

export class EtcdExchangeStore implements ExchangeBackend {
  readonly registry: ExchangeRegistry
  readonly #client: Etcd3
  readonly #options: EtcdExchangeOptions
  /** Per exchange name, the mod revision of what memory shows, or of its deletion. */
  readonly #seen = new Map<string, number>()
  /** The highest revision taken in from etcd. */
  #applied = 0
  #waiters: Array<{ revision: number; resolve: () => void }> = []
  #watcher: Watcher | undefined
  #resyncing = false
  #queue: Promise<unknown> = Promise.resolve()
  #loaded = false
  #closed = false

  constructor(options: EtcdExchangeOptions) {
    this.#client = options.client
    this.#options = options
    this.registry = new ExchangeRegistry({ topicExists: options.topicExists })
  }

  /** Reads every exchange at one revision and watches from the next. */
  async load(): Promise<void> {
    await this.#loadSnapshot()
    this.#loaded = true
  }

  async close(): Promise<void> {
    this.#closed = true
    // Not awaited: a cancel waits for etcd's answer, which a dead etcd never sends.
    this.#watcher?.cancel().catch(() => undefined)
    for (const waiter of this.#waiters) waiter.resolve()
    this.#waiters = []
  }

  create(request: CreateExchangeRequest): Promise<ExchangeDescription> {
    const guards = request.alternateTopic ? [{ topic: request.alternateTopic, absent: false }] : []
    return this.#change(
      request.name,
      guards,
      (scratch) => scratch.create(request),
      () => true,
    )
  }

  async delete(name: string): Promise<void> {
    await this.#change(
      name,
      [],
      (scratch) => scratch.delete(name),
      () => true,
    )
  }

  bind(name: string, request: BindingRequest): Promise<boolean> {
    return this.#change(
      name,
      [{ topic: request.topic, absent: false }],
      (scratch) => scratch.bind(name, request),
      (created) => created,
    )
  }

  unbind(name: string, request: BindingRequest): Promise<boolean> {
    return this.#change(
      name,
      [],
      (scratch) => scratch.unbind(name, request),
      (removed) => removed,
    )
  }

  /**
   * Removes the bindings to a deleted topic from every exchange in etcd (and clears it as an
   * alternate topic). Never throws: it runs while the broker applies the deletion, and a failure
   * is retried by `dropMissingTopics()` at the next start. Returns the exchanges it changed.
   */
  async removeTopic(topic: string): Promise<string[]> {
    const changed: string[] = []
    for (const exchange of this.registry.list()) {
      const named =
        exchange.alternateTopic === topic || exchange.bindings.some((binding) => binding.topic === topic)
      if (!named) continue
      try {
        const removed = await this.#change(
          exchange.name,
          [{ topic, absent: true }],
          (scratch) => (scratch.has(exchange.name) ? scratch.removeTopic(topic) : []),
          (names) => names.length > 0,
        )
        if (removed.length > 0) changed.push(exchange.name)
      } catch (err) {
        if (err instanceof TopicBack) return changed
        this.#options.logger.warn(
          { err, topic, exchange: exchange.name },
          'could not remove the bindings of a deleted topic; the next start retries',
        )
      }
    }
    return changed
  }

  /** Bindings to topics this broker does not have (their deletion's clean-up failed) are removed. */
  async dropMissingTopics(): Promise<string[]> {
    const missing = new Set<string>()
    for (const exchange of this.registry.list()) {
      for (const { topic } of exchange.bindings) if (!this.#options.topicExists(topic)) missing.add(topic)
      const alternate = exchange.alternateTopic
      if (alternate !== null && !this.#options.topicExists(alternate)) missing.add(alternate)
    }
    const changed = new Set<string>()
    for (const topic of missing) for (const name of await this.removeTopic(topic)) changed.add(name)
    return [...changed]
  }

  // ---- changes ----------------------------------------------------------------------------------

  /**
   * Computes a change of one exchange on a scratch registry holding only it, then writes the
   * result if the exchange (and each guarded topic) is still what the computation saw. A result
   * that changes nothing is still checked against etcd, so "already bound" is true there too.
   */
  #change<R>(
    name: string,
    guards: TopicGuard[],
    compute: (scratch: ExchangeRegistry) => R,
    changed: (result: R) => boolean,
  ): Promise<R> {
    // One change at a time on this broker: its own requests never race each other, only other brokers'.
    const run = this.#queue.then(() => this.#changeNow(name, guards, compute, changed))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #changeNow<R>(
    name: string,
    guards: TopicGuard[],
    compute: (scratch: ExchangeRegistry) => R,
    changed: (result: R) => boolean,
  ): Promise<R> {
    if (!this.#loaded || !this.#options.connected()) {
      throw new NotReadyError('not connected to the cluster (etcd); retry shortly')
    }
    const key = exchangeKey(name)
    let current = this.#localState(name)
    const topicRevisions = new Map<string, number>()
    for (const guard of guards) {
      const revision = guard.absent ? 0 : this.#options.topicRevision(guard.topic)
      if (revision === undefined) throw new TopicNotFoundError(`topic "${guard.topic}" not found`, guard)
      topicRevisions.set(guard.topic, revision)
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const scratch = new ExchangeRegistry({ topicExists: this.#options.topicExists })
      if (current.definition) scratch.replaceExchange(current.definition)
      // A refusal (EXCHANGE_EXISTS, EXCHANGE_NOT_FOUND, …) is checked against etcd like a result:
      // memory may not show yet what another broker just did.
      let refusal: unknown
      let result: R | undefined
      try {
        result = compute(scratch)
      } catch (err) {
        if (!(err instanceof StrataError)) throw err
        refusal = err
      }
      const writes: Array<IOperation> = []
      if (refusal === undefined && changed(result as R)) {
        const [next] = scratch.toSnapshot().exchanges.filter((e) => e.name === name)
        writes.push(next ? this.#client.put(key).value(JSON.stringify(next)) : this.#client.delete().key(key))
      }
      let txn = this.#client.if(key, 'Mod', '==', current.modRevision)
      for (const [topic, revision] of topicRevisions) {
        txn = txn.and(ClusterKeys.topic(topic), 'Mod', '==', revision)
      }
      const res = await this.#etcd(() =>
        txn
          .then(...writes)
          .else(
            this.#client.get(key),
            ...[...topicRevisions.keys()].map((topic) => this.#client.get(ClusterKeys.topic(topic))),
          )
          .commit(),
      )
      if (res.succeeded) {
        if (refusal !== undefined) throw refusal
        if (writes.length > 0) await this.#waitApplied(Number(res.header.revision))
        return result as R
      }
      // Someone else wrote first: take what etcd holds now and decide again, after a short random
      // pause so that brokers that collided do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_PAUSE_MS * (attempt + 1)))
      const [exchangeRead, ...topicReads] = res.responses.map((r) => r.response_range?.kvs[0])
      current = exchangeRead
        ? { definition: parseDefinition(exchangeRead), modRevision: Number(exchangeRead.mod_revision) }
        : { definition: undefined, modRevision: 0 }
      ;[...topicRevisions.keys()].forEach((topic, i) => {
        const kv = topicReads[i]
        const guard = guards.find((g) => g.topic === topic)
        if (guard?.absent && kv) throw new TopicBack()
        if (!guard?.absent && !kv) throw new TopicNotFoundError(`topic "${topic}" not found`, { topic })
        topicRevisions.set(topic, kv ? Number(kv.mod_revision) : 0)
      })
    }
    throw new NotReadyError(`exchange "${name}" is being changed through other brokers; retry`, {
      exchange: name,
    })
  }

  #localState(name: string): { definition: ExchangeDefinition | undefined; modRevision: number } {
    if (!this.registry.has(name)) return { definition: undefined, modRevision: 0 }
    const { stats: _stats, ...definition } = this.registry.get(name)
    return { definition, modRevision: this.#seen.get(name) ?? 0 }
  }

  /** Runs an etcd call; an etcd that does not answer is NOT_READY, the outcome unknown. */
  async #etcd<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      if (err instanceof StrataError) throw err
      throw new NotReadyError(
        'etcd did not answer; the change may or may not have been made, retry',
        { reason: err instanceof Error ? err.message : String(err) },
        { cause: err },
      )
    }
  }

  /** Resolves once the watch has brought everything up to `revision` into memory. */
  #waitApplied(revision: number): Promise<void> {
    if (this.#applied >= revision || this.#closed) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done)
        reject(new NotReadyError('the change is in etcd but not applied on this broker yet; retry'))
      }, APPLY_WAIT_MS)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.#waiters.push({ revision, resolve: done })
    })
  }

  // ---- loading and watching -------------------------------------------------------------------

  async #loadSnapshot(): Promise<void> {
    const res = await this.#client.getAll().prefix(EXCHANGES_PREFIX).exec()
    const revision = Number(res.header.revision)
    const present = new Set<string>()
    for (const kv of res.kvs) {
      const name = kv.key.toString().slice(EXCHANGES_PREFIX.length)
      present.add(name)
      this.#apply(name, kv, false)
    }
    for (const { name } of this.registry.list()) {
      if (!present.has(name)) this.registry.forget(name)
    }
    this.#advance(revision)
    await this.#watch(revision + 1)
  }

  async #watch(fromRevision: number): Promise<void> {
    const old = this.#watcher
    this.#watcher = undefined
    old?.cancel().catch(() => undefined)
    const watcher = await this.#client
      .watch()
      .prefix(EXCHANGES_PREFIX)
      .startRevision(String(fromRevision))
      .create()
    watcher.on('data', (res) => {
      if (watcher !== this.#watcher) return
      let highest = 0
      for (const event of res.events) {
        const name = event.kv.key.toString().slice(EXCHANGES_PREFIX.length)
        this.#apply(name, event.kv, event.type === 'Delete')
        highest = Math.max(highest, Number(event.kv.mod_revision))
      }
      this.#advance(highest)
    })
    watcher.on('error', (err) => {
      if (watcher !== this.#watcher || this.#closed) return
      this.#options.logger.warn({ err }, 'etcd watch of exchanges failed; re-reading them')
      this.#resync()
    })
    this.#watcher = watcher
  }

  #resync(): void {
    if (this.#resyncing) return
    this.#resyncing = true
    const again = async (): Promise<void> => {
      while (!this.#closed) {
        try {
          await this.#loadSnapshot()
          return
        } catch {
          await new Promise((resolve) => setTimeout(resolve, RESYNC_DELAY_MS))
        }
      }
    }
    again().finally(() => {
      this.#resyncing = false
    })
  }

  /** Takes in one key's value (or deletion) unless memory already shows something newer. */
  #apply(name: string, kv: IKeyValue, deleted: boolean): void {
    const revision = Number(kv.mod_revision)
    if ((this.#seen.get(name) ?? 0) >= revision) return
    this.#seen.set(name, revision)
    if (deleted) {
      this.registry.forget(name)
      return
    }
    try {
      const definition = parseDefinition(kv)
      if (definition.name !== name) throw new Error(`holds exchange "${definition.name}"`)
      this.registry.replaceExchange(definition)
    } catch (err) {
      // A value no broker of this version wrote: keep the last good state rather than guess.
      this.#options.logger.warn({ err, key: kv.key.toString() }, 'ignoring a malformed exchange in etcd')
    }
  }

  #advance(revision: number): void {
    if (revision > this.#applied) this.#applied = revision
    const ready = this.#waiters.filter((w) => w.revision <= this.#applied)
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#applied)
    for (const waiter of ready) waiter.resolve()
  }
}

function parseDefinition(kv: IKeyValue): ExchangeDefinition {
  const value = JSON.parse(kv.value.toString()) as ExchangeDefinition
  if (!Array.isArray(value.bindings)) throw new Error('bindings is not a list')
  return value
}
