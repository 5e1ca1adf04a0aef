/**
 * The brokers a client knows and what happened when it last talked to each.
 *
 * As nats.js's server list does (core/src/servers.ts), the pool starts from the bootstrap URLs,
 * learns more from cluster metadata and `NOT_LEADER` answers, and keeps per server the history
 * that decides where the next request goes: successes, failures, consecutive failures and a
 * cooldown that doubles with each consecutive failure. `pick()` stays on the current server while
 * it works (so requests reuse warm keep-alive connections), moves to the next healthy one in order
 * when it fails, and when every server is cooling down returns the one whose cooldown ends first
 * rather than refusing: a broker that restarts must be found again without the caller's help.
 */

export interface ServerState {
  readonly url: string
  /** `bootstrap` came from the caller; `discovered` from metadata or a redirect. */
  readonly source: 'bootstrap' | 'discovered'
  successes: number
  failures: number
  consecutiveFailures: number
  lastSuccessAt: number | undefined
  lastFailureAt: number | undefined
  /** Until this time the server is only picked when every other one is cooling down too. */
  cooldownUntil: number
}

export interface ServerPoolOptions {
  /** Cooldown after one failure; doubles per consecutive failure. Default 500 ms. */
  cooldownMs?: number
  /** Upper bound on a cooldown. Default 10 s. */
  maxCooldownMs?: number
  now?: () => number
}

export const DEFAULT_URL = 'http://127.0.0.1:8082'

export class ServerPool {
  readonly #servers: ServerState[] = []
  readonly #cooldownMs: number
  readonly #maxCooldownMs: number
  readonly #now: () => number
  #current: ServerState | undefined

  constructor(urls: readonly string[], options: ServerPoolOptions = {}) {
    if (urls.length === 0) throw new TypeError('at least one broker URL is required')
    this.#cooldownMs = options.cooldownMs ?? 500
    this.#maxCooldownMs = options.maxCooldownMs ?? 10_000
    this.#now = options.now ?? Date.now
    for (const url of urls) this.add(url, 'bootstrap')
    this.#current = this.#servers[0]
  }

  get servers(): readonly Readonly<ServerState>[] {
    return this.#servers
  }

  /** Adds a server unless it is known already; returns its normalised URL. */
  add(url: string, source: ServerState['source'] = 'discovered'): string {
    const normal = normalizeUrl(url)
    if (!this.#find(normal)) {
      this.#servers.push({
        url: normal,
        source,
        successes: 0,
        failures: 0,
        consecutiveFailures: 0,
        lastSuccessAt: undefined,
        lastFailureAt: undefined,
        cooldownUntil: 0,
      })
    }
    return normal
  }

  /** The server for the next request, avoiding `exclude` when anything else is available. */
  pick(exclude?: ReadonlySet<string>): string {
    const now = this.#now()
    const usable = (s: ServerState) => !exclude?.has(s.url) && s.cooldownUntil <= now
    if (this.#current && usable(this.#current)) return this.#current.url
    const healthy = this.#servers.find(usable)
    if (healthy) {
      this.#current = healthy
      return healthy.url
    }
    const candidates = this.#servers.filter((s) => !exclude?.has(s.url))
    const pool = candidates.length > 0 ? candidates : this.#servers
    const soonest = pool.reduce((a, b) => (b.cooldownUntil < a.cooldownUntil ? b : a))
    return soonest.url
  }

  isCoolingDown(url: string): boolean {
    const s = this.#find(normalizeUrl(url))
    return s !== undefined && s.cooldownUntil > this.#now()
  }

  markSuccess(url: string): void {
    const s = this.#find(normalizeUrl(url))
    if (!s) return
    s.successes++
    s.consecutiveFailures = 0
    s.cooldownUntil = 0
    s.lastSuccessAt = this.#now()
    this.#current = s
  }

  markFailure(url: string): void {
    const s = this.#find(normalizeUrl(url))
    if (!s) return
    const now = this.#now()
    s.failures++
    s.consecutiveFailures++
    s.lastFailureAt = now
    s.cooldownUntil = now + Math.min(this.#maxCooldownMs, this.#cooldownMs * 2 ** (s.consecutiveFailures - 1))
    if (this.#current === s) this.#current = undefined
  }

  #find(url: string): ServerState | undefined {
    return this.#servers.find((s) => s.url === url)
  }
}

/** `host:port` gets `http://`; a trailing slash goes; anything unparsable is a TypeError. */
export function normalizeUrl(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`
  const parsed = new URL(withScheme)
  const path = parsed.pathname.replace(/\/+$/, '')
  return `${parsed.origin}${path}`
}
