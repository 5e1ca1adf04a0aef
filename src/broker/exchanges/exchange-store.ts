/**
 * Persists the exchange registry, so exchanges and bindings survive a restart.
 *
 * On disk: one JSON file, `<data-dir>/__metadata/exchanges.json` when the broker opens it, holding
 * `{version: 1, exchanges: [{name, type, alternateTopic, bindings: [{topic, bindingKey}]}]}`.
 * The whole state is rewritten after each change: write `<file>.tmp`, fsync it, rename it over the
 * file, fsync the directory. A crash therefore leaves the old file or the new one, never half of
 * one; a stale `<file>.tmp` is ignored and overwritten by the next write. Exchange metadata is
 * small and changes rarely, so rewriting it whole is simpler than a log and costs little.
 *
 * Ownership: the main thread. Changes are serialized through one queue, so two requests never race
 * on the temp file and the file always holds a state the registry really had. A change is applied
 * in memory, then written; if the write fails the registry is rolled back to the state before the
 * change and the caller gets STORAGE_ERROR, so a failed request leaves nothing behind. Routing may
 * see a change during the few milliseconds its write is in flight.
 *
 * Load: a missing file is an empty registry. A file that is not valid JSON or not this shape
 * throws STORAGE_ERROR naming the file, rather than starting with exchanges silently missing.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { StorageError } from '../../errors.js'
import { writeFileAtomic } from '../topic-registry.js'
import type {
  BindingRequest,
  CreateExchangeRequest,
  ExchangeDescription,
  ExchangeRegistryOptions,
  ExchangeRegistrySnapshot,
} from './exchange-registry.js'
import { ExchangeRegistry } from './exchange-registry.js'

/** Reads a snapshot file; a missing file is the empty snapshot, a malformed one throws STORAGE_ERROR. */
export async function readExchangesFile(file: string): Promise<ExchangeRegistrySnapshot> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, exchanges: [] }
    throw new StorageError(`cannot read exchanges file ${file}`, { file }, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new StorageError(`exchanges file ${file} is corrupt: not valid JSON`, { file }, { cause: err })
  }
  const problem = snapshotShapeProblem(parsed)
  if (problem !== undefined) {
    throw new StorageError(`exchanges file ${file} is corrupt: ${problem}`, { file })
  }
  return parsed as ExchangeRegistrySnapshot
}

/** Writes a snapshot atomically: temp file, fsync, rename over, fsync the directory. */
export async function writeExchangesFile(file: string, snapshot: ExchangeRegistrySnapshot): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  await writeFileAtomic(file, `${JSON.stringify(snapshot, null, 2)}\n`)
}

/** The first thing wrong with a parsed file's shape, or undefined; names and keys are checked on restore. */
function snapshotShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object'
  const { version, exchanges } = value as Record<string, unknown>
  if (version !== 1) return `unsupported version ${JSON.stringify(version)}`
  if (!Array.isArray(exchanges)) return '"exchanges" is not an array'
  for (const [index, exchange] of exchanges.entries()) {
    if (typeof exchange !== 'object' || exchange === null) return `exchanges[${index}] is not an object`
    const { name, type, alternateTopic, bindings } = exchange as Record<string, unknown>
    if (typeof name !== 'string') return `exchanges[${index}].name is not a string`
    if (typeof type !== 'string') return `exchanges[${index}].type is not a string`
    if (alternateTopic !== null && typeof alternateTopic !== 'string') {
      return `exchanges[${index}].alternateTopic is not a string or null`
    }
    if (!Array.isArray(bindings)) return `exchanges[${index}].bindings is not an array`
    for (const [at, binding] of bindings.entries()) {
      const { topic, bindingKey } = (binding ?? {}) as Record<string, unknown>
      if (typeof topic !== 'string' || typeof bindingKey !== 'string') {
        return `exchanges[${index}].bindings[${at}] needs string topic and bindingKey`
      }
    }
  }
  return undefined
}

/**
 * What the routes and the broker's start need of the exchanges' persistence: the JSON file of a
 * single broker (`ExchangeStore`) or the cluster's etcd (`EtcdExchangeStore`). Reads go to
 * `registry`, in memory; each change resolves once it is stored, and a failed one leaves nothing.
 */
export interface ExchangeBackend {
  readonly registry: ExchangeRegistry
  load(): Promise<unknown>
  create(request: CreateExchangeRequest): Promise<ExchangeDescription>
  delete(name: string): Promise<void>
  bind(name: string, request: BindingRequest): Promise<boolean>
  unbind(name: string, request: BindingRequest): Promise<boolean>
  /** A topic was deleted: bindings to it (and alternate topics naming it) go. */
  removeTopic(topic: string): Promise<unknown>
  /** Once topics are loaded: forgets topics that no longer exist (see ExchangeStore). */
  dropMissingTopics(): Promise<unknown>
  close(): Promise<void>
}

/**
 * The registry plus its file. Reads (`route`, `get`, `list`) go straight to `registry`; every
 * change goes through this class, which persists it before resolving.
 */
export class ExchangeStore implements ExchangeBackend {
  readonly file: string
  readonly #options: ExchangeRegistryOptions
  #registry: ExchangeRegistry | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(file: string, options: ExchangeRegistryOptions = {}) {
    this.file = file
    this.#options = options
  }

  /** The loaded registry; throws if `load()` has not completed. */
  get registry(): ExchangeRegistry {
    if (this.#registry === undefined) throw new Error('ExchangeStore.load() must complete before use')
    return this.#registry
  }

  /** Reads the file once at start. A file whose contents fail the registry's rules is corrupt too. */
  async load(): Promise<ExchangeRegistry> {
    const snapshot = await readExchangesFile(this.file)
    try {
      this.#registry = ExchangeRegistry.fromSnapshot(snapshot, this.#options)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new StorageError(
        `exchanges file ${this.file} is corrupt: ${reason}`,
        { file: this.file },
        { cause: err },
      )
    }
    return this.#registry
  }

  create(request: CreateExchangeRequest): Promise<ExchangeDescription> {
    return this.#change(
      (registry) => registry.create(request),
      () => true,
    )
  }

  delete(name: string): Promise<void> {
    return this.#change(
      (registry) => registry.delete(name),
      () => true,
    )
  }

  bind(name: string, request: BindingRequest): Promise<boolean> {
    return this.#change(
      (registry) => registry.bind(name, request),
      (created) => created,
    )
  }

  unbind(name: string, request: BindingRequest): Promise<boolean> {
    return this.#change(
      (registry) => registry.unbind(name, request),
      (removed) => removed,
    )
  }

  removeTopic(topic: string): Promise<string[]> {
    return this.#change(
      (registry) => registry.removeTopic(topic),
      (changed) => changed.length > 0,
    )
  }

  /**
   * Forgets every topic the exchanges name that does not exist any more, as `removeTopic()` would
   * have. A crash after a topic's deletion is written but before this file is leaves bindings to a
   * missing topic, and a publish routed there fails TOPIC_NOT_FOUND. `load()` cannot check, since
   * topics load later; call this once they have. Returns the exchanges that changed.
   */
  dropMissingTopics(topicExists = this.#options.topicExists): Promise<string[]> {
    return this.#change(
      (registry) => {
        if (topicExists === undefined) return []
        const missing = new Set<string>()
        for (const exchange of registry.toSnapshot().exchanges) {
          for (const { topic } of exchange.bindings) if (!topicExists(topic)) missing.add(topic)
          if (exchange.alternateTopic !== null && !topicExists(exchange.alternateTopic)) {
            missing.add(exchange.alternateTopic)
          }
        }
        const changed = new Set<string>()
        for (const topic of missing) for (const name of registry.removeTopic(topic)) changed.add(name)
        return [...changed]
      },
      (changed) => changed.length > 0,
    )
  }

  async close(): Promise<void> {}

  /**
   * Runs one change after every earlier one has been written. `changed` says whether the result
   * altered anything, so idempotent no-ops (a repeated bind) skip the write.
   */
  #change<R>(apply: (registry: ExchangeRegistry) => R, changed: (result: R) => boolean): Promise<R> {
    const run = this.#queue.then(async () => {
      const registry = this.registry
      const before = registry.toSnapshot()
      const result = apply(registry)
      if (!changed(result)) return result
      try {
        await writeExchangesFile(this.file, registry.toSnapshot())
      } catch (err) {
        registry.restore(before)
        throw new StorageError(
          `cannot write exchanges file ${this.file}`,
          { file: this.file },
          { cause: err },
        )
      }
      return result
    })
    this.#queue = run.catch(() => undefined)
    return run
  }
}
