/**
 * Who is asking: turns a request's credentials into a principal.
 *
 * - `Authorization: Basic` (user and password): scrypt is deliberately slow, and Basic sends the
 *   password on every request, so a successful check is remembered for `VERIFIED_TTL_MS` under the
 *   SHA-256 of user and password (never the password itself). A remembered check counts only while
 *   the user still has the same password hash: a password change or a deleted user ends it at once.
 * - `Authorization: Bearer`: the inter-broker secret (brokers fetching from each other), or an API
 *   token. Tokens are looked up in the live store on every request, so a revoked token stops
 *   working on the very next request.
 * - the console's session cookie (sessions.ts), with its CSRF header on anything but GET. A session
 *   lasts only while the user has the password it was opened with: a reset ends a stolen one.
 * - a client certificate the TLS listener verified (tls-principal.ts), only when the request has
 *   none of the above: its CN is the user of that name, or, as Kafka's `User:CN`, a principal
 *   without a password user and without superuser rights that ACLs can still name.
 *
 * No credentials at all is `undefined` (the caller decides whether the route needs any); wrong ones
 * throw UNAUTHENTICATED. Messages never say whether the user exists.
 */
import { timingSafeEqual } from 'node:crypto'
import { ThrottledError, UnauthenticatedError } from '../errors.js'
import type { Principal } from './acl.js'
import { type AuthStore, USER_NAME_PATTERN, type UserRecord } from './auth-store.js'
import { sha256, verifyPassword } from './secrets.js'
import type { Session, SessionStore } from './sessions.js'

const VERIFIED_TTL_MS = 60_000
const VERIFIED_MAX_ENTRIES = 10_000
/**
 * scrypt runs on libuv's thread pool (4 threads), which the log's file I/O shares: a flood of wrong
 * passwords must not take every thread. Two checks run at once, a few more wait, the rest are
 * THROTTLED (remembered good logins and tokens never wait).
 */
const MAX_CONCURRENT_CHECKS = 2
const MAX_QUEUED_CHECKS = 32
/** Certificate principals are named by ACLs, which take user names. */
const CERTIFICATE_NAME = new RegExp(USER_NAME_PATTERN)

/** The principal brokers act as toward each other (replica fetch). */
export const INTER_BROKER_PRINCIPAL: Principal = Object.freeze({ name: '__broker', superuser: true })

export interface Credentials {
  authorization?: string | undefined
  cookie?: string | undefined
  csrfToken?: string | undefined
  /** GET and HEAD change nothing, so they need no CSRF token. */
  safeMethod: boolean
}

export class Authenticator {
  readonly #store: AuthStore
  readonly #sessions: SessionStore
  readonly #interBrokerDigest: Buffer | undefined
  readonly #verified = new Map<string, { user: UserRecord['name']; hash: string; expiresAt: number }>()
  #checksRunning = 0
  readonly #checksWaiting: Array<() => void> = []

  constructor(store: AuthStore, sessions: SessionStore, interBrokerToken: string) {
    this.#store = store
    this.#sessions = sessions
    this.#interBrokerDigest = interBrokerToken === '' ? undefined : sha256(interBrokerToken)
  }

  async authenticate(credentials: Credentials): Promise<Principal | undefined> {
    const header = credentials.authorization
    if (header !== undefined && header !== '') {
      const space = header.indexOf(' ')
      const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase()
      const value = space === -1 ? '' : header.slice(space + 1).trim()
      if (scheme === 'basic') return this.#basic(value)
      if (scheme === 'bearer') return this.#bearer(value)
      throw new UnauthenticatedError('unsupported authorization scheme: use Basic or Bearer')
    }
    const session = this.#sessions.fromCookie(credentials.cookie)
    if (session === undefined) return undefined
    if (!credentials.safeMethod && !this.#sessions.csrfMatches(session, credentials.csrfToken)) {
      throw new UnauthenticatedError('missing or wrong x-csrf-token for this session')
    }
    const user = this.#store.user(session.user)
    if (!user || user.password?.hash !== session.passwordHash) {
      this.#sessions.end(session.id)
      throw new UnauthenticatedError('session expired; log in again')
    }
    return this.#store.principalOf(user)
  }

  /**
   * The principal a verified client certificate's CN names. A CN that an ACL could not name (a
   * space, `*`) is refused rather than let in as a principal that only `*` rules reach.
   */
  fromCertificate(commonName: string): Principal {
    if (!CERTIFICATE_NAME.test(commonName)) {
      throw new UnauthenticatedError(
        `client certificate CN "${commonName}" is not a usable principal name (1 to 128 of A-Z a-z 0-9 . _ @ -)`,
      )
    }
    const user = this.#store.user(commonName)
    return user ? this.#store.principalOf(user) : { name: commonName, superuser: false }
  }

  /** The console's login: a session bound to the password it was opened with. */
  async login(name: string, password: string): Promise<{ principal: Principal; session: Session }> {
    const { principal, passwordHash } = await this.#check(name, password)
    return { principal, session: this.#sessions.start(name, passwordHash) }
  }

  /** Checks a user and password (Basic). */
  async verify(name: string, password: string): Promise<Principal> {
    return (await this.#check(name, password)).principal
  }

  async #check(name: string, password: string): Promise<{ principal: Principal; passwordHash: string }> {
    const key = sha256(`${name}\u0000${password}`).toString('hex')
    const user = this.#store.user(name)
    const cached = this.#verified.get(key)
    if (
      cached &&
      user?.password &&
      cached.user === name &&
      cached.hash === user.password.hash &&
      cached.expiresAt > Date.now()
    ) {
      return { principal: this.#store.principalOf(user), passwordHash: user.password.hash }
    }
    const ok = await this.#limited(() => verifyPassword(password, user?.password))
    // The store may have changed while scrypt ran: judge by the user as it is now.
    const now = this.#store.user(name)
    if (!ok || !now?.password || now.password.hash !== user?.password?.hash) {
      throw new UnauthenticatedError('wrong user name or password')
    }
    if (this.#verified.size >= VERIFIED_MAX_ENTRIES) this.#evict()
    this.#verified.set(key, { user: name, hash: now.password.hash, expiresAt: Date.now() + VERIFIED_TTL_MS })
    return { principal: this.#store.principalOf(now), passwordHash: now.password.hash }
  }

  async #limited<T>(check: () => Promise<T>): Promise<T> {
    if (this.#checksRunning < MAX_CONCURRENT_CHECKS) {
      this.#checksRunning++
    } else {
      if (this.#checksWaiting.length >= MAX_QUEUED_CHECKS) {
        throw new ThrottledError('too many password checks at once; retry shortly', { retryAfterMs: 1000 })
      }
      // The finishing check hands its slot over, so the count stays as it is.
      await new Promise<void>((resolve) => this.#checksWaiting.push(resolve))
    }
    try {
      return await check()
    } finally {
      const next = this.#checksWaiting.shift()
      if (next) next()
      else this.#checksRunning--
    }
  }

  #basic(value: string): Promise<Principal> {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon <= 0) throw new UnauthenticatedError('malformed Basic credentials')
    return this.verify(decoded.slice(0, colon), decoded.slice(colon + 1))
  }

  #bearer(token: string): Principal {
    if (this.#interBrokerDigest && timingSafeEqual(sha256(token), this.#interBrokerDigest)) {
      return INTER_BROKER_PRINCIPAL
    }
    const user = this.#store.userForToken(token)
    if (!user) throw new UnauthenticatedError('unknown or revoked token')
    return this.#store.principalOf(user)
  }

  #evict(): void {
    const now = Date.now()
    for (const [key, entry] of this.#verified) if (entry.expiresAt <= now) this.#verified.delete(key)
    // Still full of live entries: start over rather than grow without bound.
    if (this.#verified.size >= VERIFIED_MAX_ENTRIES) this.#verified.clear()
  }
}
