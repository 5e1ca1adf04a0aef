/**
 * Cluster mode: users, tokens and ACLs live in etcd under one key, so every broker authenticates
 * and authorizes alike, and a change made through any broker holds on all of them.
 *
 * The key `/strata-security/state` is outside the cluster metadata's prefix (`/strata/`), so the
 * cluster's own watch never sees it. A write is a compare-and-swap on the key's mod revision: two
 * brokers changing users at once cannot lose one another's change; the loser re-reads and answers
 * NOT_READY (retriable), and the retry applies to the fresh state. Each broker watches the key and
 * takes in every newer state, so a token revoked through one broker stops working on all of them
 * as soon as the watch delivers (well under a second on a healthy cluster).
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3'
import { NotReadyError, StorageError } from '../errors.js'
import { type AuthBackend, type AuthSnapshot, emptySnapshot, snapshotProblem } from './auth-store.js'

export const AUTH_KEY = '/strata-security/state'

export class EtcdAuthBackend implements AuthBackend {
  readonly where = `etcd key ${AUTH_KEY}`
  readonly #client: Etcd3
  /** Mod revision of the state this broker holds (0: the key does not exist). */
  #modRevision = 0
  #watcher: Watcher | undefined
  #onChange: ((snapshot: AuthSnapshot) => void) | undefined

  constructor(client: Etcd3) {
    this.#client = client
  }

  async load(): Promise<AuthSnapshot> {
    const res = await this.#client.get(AUTH_KEY).exec()
    const kv = res.kvs[0]
    if (!kv) {
      this.#modRevision = 0
      return emptySnapshot()
    }
    this.#modRevision = Number(kv.mod_revision)
    return this.#parse(kv)
  }

  async save(next: AuthSnapshot): Promise<void> {
    const guard =
      this.#modRevision === 0
        ? this.#client.if(AUTH_KEY, 'Version', '==', 0)
        : this.#client.if(AUTH_KEY, 'Mod', '==', this.#modRevision)
    const res = await guard.then(this.#client.put(AUTH_KEY).value(JSON.stringify(next))).commit()
    if (!res.succeeded) {
      this.#onChange?.(await this.load())
      throw new NotReadyError('users or ACLs were changed through another broker meanwhile; retry')
    }
    this.#modRevision = Number(res.header.revision)
  }

  async watch(onChange: (snapshot: AuthSnapshot) => void): Promise<void> {
    this.#onChange = onChange
    this.#watcher = await this.#client.watch().key(AUTH_KEY).create()
    this.#watcher.on('put', (kv) => {
      const revision = Number(kv.mod_revision)
      if (revision <= this.#modRevision) return
      try {
        const snapshot = this.#parse(kv)
        this.#modRevision = revision
        onChange(snapshot)
      } catch {
        // A malformed value is not taken in; the broker keeps the last good state.
      }
    })
    // A state written between load() and the watch's start would otherwise be missed.
    const current = await this.#client.get(AUTH_KEY).exec()
    const kv = current.kvs[0]
    if (kv && Number(kv.mod_revision) > this.#modRevision) {
      this.#modRevision = Number(kv.mod_revision)
      onChange(this.#parse(kv))
    }
  }

  async close(): Promise<void> {
    // Not awaited: a cancel waits for etcd's answer, which a dead etcd never sends; closing the
    // cluster node's client afterwards ends the watch anyway.
    this.#watcher?.cancel().catch(() => undefined)
  }

  #parse(kv: IKeyValue): AuthSnapshot {
    let parsed: unknown
    try {
      parsed = JSON.parse(kv.value.toString())
    } catch (err) {
      throw new StorageError(`${this.where} is corrupt: not valid JSON`, { key: AUTH_KEY }, { cause: err })
    }
    const problem = snapshotProblem(parsed)
    if (problem) throw new StorageError(`${this.where} is corrupt: ${problem}`, { key: AUTH_KEY })
    return parsed as AuthSnapshot
  }
}
