/**
 * This broker's etcd lease: its membership, its controllership and its right to lead.
 *
 * The lease is kept alive by our own loop (a keepalive every TTL/5)
 * rather than etcd3's, because we need to know how long the lease is surely alive: a keepalive
 * SENT at t and answered with TTL s keeps the lease alive in etcd until at least t + s. So
 * `isValid()` is "now < last answered keepalive's send time + TTL − margin", which turns false
 * before etcd could expire the lease and let the controller elect someone else, whether the cause
 * is a paused process (SIGSTOP: on SIGCONT the check fails at once, before any timer has run), a
 * partition from etcd, or etcd being down.
 *
 * Two events: `suspended` when validity runs out (leaders must stop confirming), `restored` when a
 * lease is valid again after that (the same lease, if etcd kept it, or a new one if etcd dropped
 * it): the node then re-registers and re-reads the cluster before it leads again.
 * Main thread only.
 */
import { type Etcd3, EtcdLeaseInvalidError, type Lease } from 'etcd3'

/**
 * Subtracted from the lease TTL before we stop trusting it. It covers etcd's processing time of a
 * keepalive after we sent it and the event loop's lateness in noticing; the TTL is ≥ 2 s.
 */
export const LEASE_SAFETY_MARGIN_MS = 500

/**
 * Keepalives per TTL. etcd's Go client sends three; we send five, so that an event loop stalled for
 * up to TTL − margin − TTL/5 (1.9 s with the default 3 s) does not cost the lease (start-up on a
 * busy machine compiles schemas for a second or more).
 */
const KEEPALIVES_PER_TTL = 5

export interface SessionListener {
  suspended(): void
  restored(leaseId: string): void
}

export class BrokerSession {
  readonly #client: Etcd3
  readonly #ttlSeconds: number
  readonly #listener: SessionListener
  #lease: Lease | undefined
  #leaseId: string | undefined
  #validUntil = 0
  #suspended = true
  #closed = false
  #loop: NodeJS.Timeout | undefined
  #expiry: NodeJS.Timeout | undefined
  /** A grant in flight (keepalives, on the contrary, overlap: a slow answer must not hold the next one back). */
  #granting = false
  #keepalivesInFlight = 0

  constructor(client: Etcd3, leaseMs: number, listener: SessionListener) {
    this.#client = client
    this.#ttlSeconds = Math.max(2, Math.ceil(leaseMs / 1000))
    this.#listener = listener
  }

  get leaseId(): string | undefined {
    return this.#leaseId
  }

  get ttlMs(): number {
    return this.#ttlSeconds * 1000
  }

  isValid(now = Date.now()): boolean {
    return this.#leaseId !== undefined && now < this.#validUntil
  }

  /** Grants the first lease (rejects when etcd cannot be reached) and starts the keepalive loop. */
  async start(): Promise<string> {
    const id = await this.#grant()
    this.#loop = setInterval(() => this.#tick(), (this.#ttlSeconds * 1000) / KEEPALIVES_PER_TTL)
    this.#loop.unref()
    return id
  }

  /** Revokes the lease so the cluster sees this broker leave at once (a clean shutdown). */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#loop)
    clearTimeout(this.#expiry)
    const lease = this.#lease
    this.#lease = undefined
    this.#leaseId = undefined
    if (lease) await lease.revoke({ deadline: Date.now() + 2000 }).catch(() => undefined)
  }

  async #grant(): Promise<string> {
    const sentAt = Date.now()
    const lease = this.#client.lease(this.#ttlSeconds, { autoKeepAlive: false })
    // Loss is noticed by our keepalives; this listener only keeps the emitter quiet.
    lease.on('lost', () => {})
    const id = await lease.grant()
    this.#lease?.release()
    this.#lease = lease
    this.#leaseId = id
    this.#extend(sentAt, this.#ttlSeconds)
    return id
  }

  #tick(): void {
    if (this.#closed) return
    if (this.#lease === undefined) {
      if (this.#granting) return
      this.#granting = true
      this.#regrant().finally(() => {
        this.#granting = false
      })
      return
    }
    // Bounded: with etcd down, calls fail fast; a paused etcd leaves at most this many waiting.
    if (this.#keepalivesInFlight >= KEEPALIVES_PER_TTL) return
    this.#keepalivesInFlight++
    this.#keepalive().finally(() => {
      this.#keepalivesInFlight--
    })
  }

  async #keepalive(): Promise<void> {
    const lease = this.#lease as Lease
    const sentAt = Date.now()
    try {
      const res = await lease.keepaliveOnce({ deadline: sentAt + this.ttlMs })
      if (lease === this.#lease) this.#extend(sentAt, Number(res.TTL))
    } catch (err) {
      if (lease !== this.#lease || !(err instanceof EtcdLeaseInvalidError)) return
      // etcd says the lease is gone: everything bound to it (membership, controller) went with it.
      this.#lease = undefined
      this.#leaseId = undefined
      this.#suspend()
      await this.#regrant()
    }
  }

  async #regrant(): Promise<void> {
    try {
      await this.#grant()
    } catch {
      // etcd still unreachable: the next tick tries again.
    }
  }

  #extend(sentAt: number, ttlSeconds: number): void {
    if (this.#closed || !(ttlSeconds > 0)) return
    const wasSuspended = this.#suspended || !this.isValid()
    this.#validUntil = Math.max(this.#validUntil, sentAt + ttlSeconds * 1000 - LEASE_SAFETY_MARGIN_MS)
    clearTimeout(this.#expiry)
    this.#expiry = setTimeout(() => this.#checkExpiry(), Math.max(0, this.#validUntil - Date.now()) + 1)
    this.#expiry.unref()
    if (wasSuspended && this.isValid()) {
      this.#suspended = false
      this.#listener.restored(this.#leaseId as string)
    }
  }

  #checkExpiry(): void {
    if (this.isValid()) {
      this.#expiry = setTimeout(() => this.#checkExpiry(), this.#validUntil - Date.now() + 1)
      this.#expiry.unref()
      return
    }
    this.#suspend()
  }

  #suspend(): void {
    if (this.#suspended || this.#closed) return
    this.#suspended = true
    this.#listener.suspended()
  }
}
