/**
 * The web console's logins: server-side sessions behind an HttpOnly, SameSite=Strict cookie.
 *
 * A session id is 32 random bytes; the cookie holds only that. Each session has its own CSRF token,
 * which the page reads once (from the login answer or GET /console/session) and sends back as the
 * `x-csrf-token` header on every request that changes something: a cross-site form cannot read it,
 * so it cannot forge one (SameSite=Strict already keeps the cookie off cross-site requests; this is
 * the second lock). Sessions live in memory: a restart logs everyone out, which is the safe side.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'strata_session'
const SESSION_TTL_MS = 8 * 60 * 60 * 1000
const MAX_SESSIONS = 10_000
/**
 * A person has a few browsers: past this a user's oldest session ends, so one account logging in
 * in a loop (its checks are remembered, so cheap) cannot push everyone else's sessions out.
 */
const MAX_SESSIONS_PER_USER = 20

export interface Session {
  id: string
  user: string
  /**
   * The password hash the user logged in with: resetting a password (or deleting the user and
   * making another of that name) must end the sessions the old password opened.
   */
  passwordHash: string
  csrfToken: string
  expiresAt: number
}

export class SessionStore {
  readonly #sessions = new Map<string, Session>()
  readonly ttlMs: number

  constructor(ttlMs = SESSION_TTL_MS) {
    this.ttlMs = ttlMs
  }

  start(user: string, passwordHash: string): Session {
    this.#capUser(user)
    if (this.#sessions.size >= MAX_SESSIONS) this.#sweep()
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      user,
      passwordHash,
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt: Date.now() + this.ttlMs,
    }
    this.#sessions.set(session.id, session)
    return session
  }

  fromCookie(cookieHeader: string | undefined): Session | undefined {
    const id = readCookie(cookieHeader, SESSION_COOKIE)
    if (id === undefined) return undefined
    const session = this.#sessions.get(id)
    if (!session) return undefined
    if (session.expiresAt <= Date.now()) {
      this.#sessions.delete(id)
      return undefined
    }
    return session
  }

  csrfMatches(session: Session, presented: string | undefined): boolean {
    if (presented === undefined) return false
    const a = Buffer.from(presented)
    const b = Buffer.from(session.csrfToken)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  end(id: string): void {
    this.#sessions.delete(id)
  }

  #capUser(user: string): void {
    const own: string[] = []
    for (const s of this.#sessions.values()) if (s.user === user) own.push(s.id)
    // Map order is insertion order: the first are the oldest.
    for (const id of own.slice(0, Math.max(0, own.length - MAX_SESSIONS_PER_USER + 1)))
      this.#sessions.delete(id)
  }

  #sweep(): void {
    const now = Date.now()
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id)
    if (this.#sessions.size >= MAX_SESSIONS) {
      // Full of live sessions: drop the oldest (Map keeps insertion order).
      const oldest = this.#sessions.keys().next().value
      if (oldest !== undefined) this.#sessions.delete(oldest)
    }
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
